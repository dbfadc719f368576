#pragma once

#include "bridge/model.h"
#include "bridge/weights.h"

namespace hookscope {

// Llama and its relatives (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`;
// SmolLM and TinyLlama are Llama checkpoints).
std::unique_ptr<Model> load_llama(ModelConfig config, const std::filesystem::path& folder);

// The same model from weights held anywhere (e.g. built in memory by a benchmark).
std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin);

} // namespace hookscope
