#pragma once
// The float64 forward the tests measure float32 and bfloat16 against: the same
// architecture code on the same weights (rounded to bfloat16 where the model under
// test holds them so), every operation in float64.

#include "bridge/core/model_config.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/weights.h"

#include <ATen/ATen.h>

#include <filesystem>

namespace hookscope::test {

// The model of `config` with the weights `tensors` computed in float64, the weights
// first rounded as `precision` holds them (compute_type: under BFloat16 every tensor of
// rank 2 and up).
inline std::unique_ptr<Model> float64_reference(const ModelConfig& config, const NamedTensors& tensors,
                                                Precision precision, const std::filesystem::path& origin) {
    NamedTensors rounded;
    for (const auto& [name, t] : tensors)
        rounded.emplace_back(name, t.to(compute_type(precision, t.dim())).to(at::kDouble));
    InMemoryWeights weights(std::move(rounded), "float64 reference");
    weights.set_precision(Precision::Float64);
    return Model::from_weights(config, weights, origin);
}

// The checkpoint in `folder` computed in float64, rounded as above.
inline std::unique_ptr<Model> float64_reference(const std::filesystem::path& folder, Precision precision) {
    const auto file = SafetensorsFile::open(folder / "model.safetensors");
    NamedTensors tensors;
    for (const TensorInfo& info : file->tensors())
        tensors.emplace_back(info.name, file->tensor(info.name));
    return float64_reference(load_model_config(folder), tensors, precision, folder);
}

// max |a - b| / max |b|: an error relative to the reference's own scale.
inline double relative_error(const at::Tensor& actual, const at::Tensor& reference) {
    const at::Tensor a = actual.to(at::kDouble), b = reference.to(at::kDouble);
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

} // namespace hookscope::test
