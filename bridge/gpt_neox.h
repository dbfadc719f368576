#pragma once

#include "bridge/model.h"
#include "bridge/weights.h"

namespace hookscope {

// GPT-NeoX / Pythia (`GPTNeoXForCausalLM`). Buffers some checkpoints carry
// (attention.bias, attention.masked_bias, attention.rotary_emb.inv_freq) are ignored.
std::unique_ptr<Model> load_gpt_neox(ModelConfig config, const std::filesystem::path& folder);

// The same model from weights held anywhere (e.g. built in memory by a benchmark).
std::unique_ptr<Model> make_gpt_neox(ModelConfig config, const WeightSource& weights, std::filesystem::path origin);

} // namespace hookscope
