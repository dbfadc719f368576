#include "bridge/model/weights.h"

#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/system_memory.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace hookscope {

at::ScalarType compute_type(Precision precision, int64_t rank) {
    if (precision == Precision::Float64) return at::kDouble;
    return precision == Precision::BFloat16 && rank >= 2 ? at::kBFloat16 : at::kFloat;
}

namespace {

// Converted weights of at least this many bytes are held on huge pages (see
// map_huge_pages): the products stream through them on every token.
constexpr std::size_t kHugePageWeight = std::size_t{2} << 20;

} // namespace

at::Tensor huge_page_tensor(at::IntArrayRef sizes, at::ScalarType type) {
    const auto bytes = static_cast<std::size_t>(c10::multiply_integers(sizes)) * c10::elementSize(type);
    void* data = map_huge_pages(bytes);
    return at::from_blob(
        data, sizes, [bytes](void* p) { unmap_huge_pages(p, bytes); }, at::TensorOptions().dtype(type));
}

at::Tensor new_weight_tensor(at::IntArrayRef sizes, at::ScalarType type) {
    const auto bytes = static_cast<std::size_t>(c10::multiply_integers(sizes)) * c10::elementSize(type);
    return bytes >= kHugePageWeight ? huge_page_tensor(sizes, type) : at::empty(sizes, at::TensorOptions().dtype(type));
}

at::Tensor copied_weight(const at::Tensor& w, const WeightSource& weights, std::string_view name) {
    const at::Tensor source = w.contiguous();
    at::Tensor out = new_weight_tensor(source.sizes(), source.scalar_type());
    constexpr int64_t kPart = int64_t{4} << 20; // bytes
    const int64_t part = std::max<int64_t>(1, kPart / static_cast<int64_t>(source.element_size()));
    const at::Tensor from = source.view(-1);
    at::Tensor to = out.view(-1);
    for (int64_t i = 0; i < from.numel(); i += part) {
        const int64_t n = std::min(part, from.numel() - i);
        to.slice(0, i, i + n).copy_(from.slice(0, i, i + n));
        weights.release_bytes(name, static_cast<std::size_t>(i * source.element_size()),
                              static_cast<std::size_t>(n * source.element_size()));
    }
    return out;
}

at::Tensor checked_weight(const at::Tensor& tensor, std::string_view name, const std::vector<int64_t>& shape,
                          const std::string& where, Precision precision, std::vector<std::string>* warnings,
                          const ConvertedBytes& converted, WeightUse use) {
    if (tensor.sizes() != at::IntArrayRef(shape)) {
        throw CheckpointError(where + ": tensor `" + std::string(name) + "` has shape " + shape_text(tensor.sizes()) +
                              ", but config.json implies " + shape_text(shape));
    }
    if (!at::isFloatingType(tensor.scalar_type())) {
        throw CheckpointError(where + ": tensor `" + std::string(name) + "` has type " +
                              c10::toString(tensor.scalar_type()) + ", not a floating-point weight");
    }
    const at::ScalarType type = compute_type(precision, tensor.dim());
    const at::Tensor source = tensor.contiguous();
    // A large weight is held on huge pages when it must be converted anyway, and in
    // bfloat16 also when it is already in its type. A float32 weight already in its
    // type stays where it is (for a checkpoint, a view of the file mapping, read
    // lazily): copying it too was measured to cost more than it gains on virtual
    // machines, where fresh memory faults in at about 0.5 GB/s (a 1.2B-parameter
    // float32 model loaded in 31 s instead of 5), for a decode already near the bound.
    // The bfloat16 kernels do more work per byte read and keep fewer reads in flight,
    // and lose more on the file mapping's small pages: a 1B Llama's bfloat16 decode
    // on AVX2 ran 15-25% faster from huge pages (Zen 5), for about 3 s more load time.
    // A weight about to be repacked is read once, and is not copied only to be placed.
    const bool place = use == WeightUse::Held && type == at::kBFloat16 && !source.requires_grad() &&
                       static_cast<std::size_t>(source.nbytes()) >= kHugePageWeight;
    const bool copy = source.scalar_type() != type || place;
    at::Tensor out = copy ? new_weight_tensor(source.sizes(), type) : source;
    if (!warnings && out.is_same(source)) return out; // nothing to count or convert
    // Part by part: count what is not finite, convert, and say so.
    constexpr int64_t kPart = int64_t{1} << 20; // elements: 4 MB of float32
    const at::Tensor from = source.view(-1);
    at::Tensor to = out.view(-1);
    const auto element = static_cast<std::size_t>(source.element_size());
    int64_t nan = 0, inf = 0;
    for (int64_t i = 0; i < from.numel(); i += kPart) {
        const at::Tensor part = from.slice(0, i, std::min(from.numel(), i + kPart));
        if (warnings && !at::isfinite(part).all().item<bool>()) {
            nan += at::isnan(part).sum().item<int64_t>();
            inf += at::isinf(part).sum().item<int64_t>();
        }
        if (!out.is_same(source)) {
            to.slice(0, i, i + part.numel()).copy_(part);
            if (converted)
                converted(static_cast<std::size_t>(i) * element, static_cast<std::size_t>(part.numel()) * element);
        }
    }
    if (nan + inf > 0) {
        warnings->push_back(where + ": tensor `" + std::string(name) + "` holds " + std::to_string(nan) + " NaN and " +
                            std::to_string(inf) + " infinite values of " + std::to_string(tensor.numel()) +
                            "; every activation computed from it may be NaN");
    }
    return out;
}

InMemoryWeights::InMemoryWeights(NamedTensors tensors, std::string fingerprint) : fingerprint_(std::move(fingerprint)) {
    for (auto& [name, tensor] : tensors)
        tensors_.emplace(std::move(name), std::move(tensor));
}

at::Tensor InMemoryWeights::load_weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
        throw CheckpointError("in-memory weights: tensor `" + std::string(name) + "` is missing");
    }
    return checked_weight(it->second, name, shape, "in-memory weights", precision(), warnings_sink(), {}, use);
}

} // namespace hookscope
