#include "bridge/weights.h"

#include "bridge/errors.h"

#include <ATen/ATen.h>

namespace hookscope {

at::ScalarType compute_type(Precision precision, int64_t rank) {
    if (precision == Precision::Float64) return at::kDouble;
    return precision == Precision::BFloat16 && rank >= 2 ? at::kBFloat16 : at::kFloat;
}

at::Tensor checked_weight(const at::Tensor& tensor, std::string_view name, const std::vector<int64_t>& shape,
                          const std::string& where, Precision precision, std::vector<std::string>* warnings) {
    if (tensor.sizes() != at::IntArrayRef(shape)) {
        throw CheckpointError(where + ": tensor `" + std::string(name) + "` has shape " + shape_text(tensor.sizes()) +
                              ", but config.json implies " + shape_text(shape));
    }
    if (!at::isFloatingType(tensor.scalar_type())) {
        throw CheckpointError(where + ": tensor `" + std::string(name) + "` has type " +
                              c10::toString(tensor.scalar_type()) + ", not a floating-point weight");
    }
    if (warnings && !at::isfinite(tensor).all().item<bool>()) {
        const int64_t nan = at::isnan(tensor).sum().item<int64_t>();
        const int64_t inf = at::isinf(tensor).sum().item<int64_t>();
        warnings->push_back(where + ": tensor `" + std::string(name) + "` holds " + std::to_string(nan) + " NaN and " +
                            std::to_string(inf) + " infinite values of " + std::to_string(tensor.numel()) +
                            "; every activation computed from it may be NaN");
    }
    return tensor.to(compute_type(precision, tensor.dim())).contiguous();
}

InMemoryWeights::InMemoryWeights(NamedTensors tensors, std::string fingerprint) : fingerprint_(std::move(fingerprint)) {
    for (auto& [name, tensor] : tensors)
        tensors_.emplace(std::move(name), std::move(tensor));
}

at::Tensor InMemoryWeights::weight(std::string_view name, const std::vector<int64_t>& shape) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
        throw CheckpointError("in-memory weights: tensor `" + std::string(name) + "` is missing");
    }
    return checked_weight(it->second, name, shape, "in-memory weights", precision(), warnings_sink());
}

} // namespace hookscope
