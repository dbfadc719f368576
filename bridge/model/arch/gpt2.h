#pragma once

#include "bridge/model/model.h"
#include "bridge/model/weights.h"

namespace hookscope {

// GPT-2 (`GPT2LMHeadModel`). Accepts both key layouts found in the wild:
// `transformer.h.0.…` (save_pretrained) and `h.0.…` with `attn.bias` buffers.
// From weights held anywhere: a checkpoint folder (Model::load) or tensors built in
// memory (benchmarks, tests).
std::unique_ptr<Model> make_gpt2(ModelConfig config, const WeightSource& weights, std::filesystem::path origin);
// Only the blocks of `stage` (and the embeddings or the readout when it holds them).
std::unique_ptr<Model> make_gpt2(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                 StageRange stage);

} // namespace hookscope
