#pragma once
// Where an architecture gets its weights from, by Hugging Face tensor name: a
// checkpoint on disk, or tensors built in memory (benchmarks, tests).

#include "bridge/core/precision.h"
#include "bridge/model/named_tensors.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

// What a model does with a weight it takes: reads it where it is handed out (Held), or
// copies it into a layout of its own at once (Repacked), after which the handed-out
// tensor is read no more, so placing it for fast reading (huge pages) would be wasted.
enum class WeightUse { Held, Repacked };

class WeightSource {
public:
    virtual ~WeightSource() = default;
    virtual bool contains(std::string_view name) const = 0;
    // The tensor converted to the compute type (see compute_type()), checked against
    // the shape the config implies, placed for `use` (see checked_weight). Throws
    // CheckpointError when it is missing or has another shape or type.
    at::Tensor weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use = WeightUse::Held) const {
        return load_weight(name, shape, use);
    }
    // Identifies these weights (exports record it).
    virtual const std::string& fingerprint() const = 0;
    // Says that the model holds its own copy of weight(name) (repacked) and no longer
    // reads what weight() returned: a source that maps a file may drop those pages.
    void release(std::string_view name) const { release_bytes(name, 0, SIZE_MAX); }
    // The same for bytes [offset, offset + bytes) of the weight (clipped to its end).
    virtual void release_bytes(std::string_view /*name*/, std::size_t /*offset*/, std::size_t /*bytes*/) const {}

    // The precision weight() converts for; Float32 unless set.
    Precision precision() const { return precision_; }
    void set_precision(Precision precision) { precision_ = precision; }

    // One line per weight handed out so far that holds NaN or infinite values (see
    // checked_weight): such a checkpoint loads, and the user is told.
    const std::vector<std::string>& warnings() const { return warnings_; }

protected:
    virtual at::Tensor load_weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use) const = 0;
    std::vector<std::string>* warnings_sink() const { return &warnings_; }

private:
    Precision precision_ = Precision::Float32;
    mutable std::vector<std::string> warnings_;
};

// The type a weight of `rank` dimensions is held in under `precision`: matrices and
// embeddings (rank 2 and up) in bfloat16 under Precision::BFloat16, everything in
// float64 under Precision::Float64, everything else in float32.
at::ScalarType compute_type(Precision precision, int64_t rank);

// Called with each range of bytes of a tensor's data once it has been converted.
using ConvertedBytes = std::function<void(std::size_t offset, std::size_t bytes)>;

// A new tensor (zeroed) on memory from map_huge_pages, which its deleter gives back.
at::Tensor huge_page_tensor(at::IntArrayRef sizes, at::ScalarType type);
// A new tensor for a weight the model converts or repacks: on huge pages (as above)
// when it takes 2 MiB or more, else ordinary memory (a huge page each would waste most
// of it).
at::Tensor new_weight_tensor(at::IntArrayRef sizes, at::ScalarType type);

// A copy of weights.weight(name), `w`, in new_weight_tensor (huge pages from 2 MiB),
// made part by part with each part's source pages released as it is copied, so that
// the copy never holds the weight twice in memory.
at::Tensor copied_weight(const at::Tensor& w, const WeightSource& weights, std::string_view name);

// Checks `tensor` (found at `where`) against `shape` and converts it to its compute type,
// onto huge pages (map_huge_pages) when the result takes 2 MiB or more; a bfloat16
// weight of that size already in its type is copied onto them too, unless it requires
// gradients (a copy would not be the tensor its owner updates) or `use` is Repacked.
// A weight with NaN or infinite values adds a line that names it and counts them to
// `warnings` (when given): it is a broken checkpoint, but one worth opening. A
// conversion runs a few MB at a time, calling `converted` after each part, so that a
// source that is a file mapping can be handed back as it goes (peak memory: the
// converted weights and one part, never both whole copies).
at::Tensor checked_weight(const at::Tensor& tensor, std::string_view name, const std::vector<int64_t>& shape,
                          const std::string& where, Precision precision, std::vector<std::string>* warnings = nullptr,
                          const ConvertedBytes& converted = {}, WeightUse use = WeightUse::Held);

class InMemoryWeights final : public WeightSource {
public:
    InMemoryWeights(NamedTensors tensors, std::string fingerprint);
    bool contains(std::string_view name) const override { return tensors_.find(name) != tensors_.end(); }
    const std::string& fingerprint() const override { return fingerprint_; }

protected:
    at::Tensor load_weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use) const override;

private:
    std::map<std::string, at::Tensor, std::less<>> tensors_;
    std::string fingerprint_;
};

} // namespace hookscope
