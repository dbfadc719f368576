#pragma once

#include "bridge/model/model.h"
#include "bridge/model/weights.h"

namespace hookscope {

// GPT-NeoX / Pythia (`GPTNeoXForCausalLM`). Buffers some checkpoints carry
// (attention.bias, attention.masked_bias, attention.rotary_emb.inv_freq) are ignored.
// From weights held anywhere: a checkpoint folder (Model::load) or tensors built in
// memory (benchmarks, tests).
std::unique_ptr<Model> make_gpt_neox(ModelConfig config, const WeightSource& weights, std::filesystem::path origin);
// Only the blocks of `stage` (and the embeddings or the readout when it holds them).
std::unique_ptr<Model> make_gpt_neox(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                     StageRange stage);

} // namespace hookscope
