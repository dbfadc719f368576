#pragma once

#include "bridge/model.h"

namespace hookscope {

// GPT-2 (`GPT2LMHeadModel`). Accepts both key layouts found in the wild:
// `transformer.h.0.…` (save_pretrained) and `h.0.…` with `attn.bias` buffers.
std::unique_ptr<Model> load_gpt2(ModelConfig config, const std::filesystem::path& folder);

} // namespace hookscope
