#pragma once

#include "bridge/model/model.h"
#include "bridge/model/weights.h"

namespace hookscope {

// Llama and its relatives (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`;
// SmolLM and TinyLlama are Llama checkpoints).
// From weights held anywhere: a checkpoint folder (Model::load) or tensors built in
// memory (benchmarks, tests).
std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin);
// Only the blocks of `stage` (and the embeddings or the readout when it holds them).
std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                  StageRange stage);

} // namespace hookscope
