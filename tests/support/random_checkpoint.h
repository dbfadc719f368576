#pragma once
// A GPT-2 checkpoint folder (config.json, model.safetensors) with random weights drawn
// as GPT-2 initialises them, written by a test at run time: models of any depth and
// size without a fixture in the tree.

#include "bridge/model/safetensors.h"
#include "trainer/training.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

namespace hookscope::test {

// A GPT-2 shape whose last id is both BOS and EOS, as GPT-2's <|endoftext|> is.
inline train::ModelShape gpt2_shape(int64_t layers, int64_t heads, int64_t d_model, int64_t context, int64_t vocab) {
    return {.layers = layers,
            .heads = heads,
            .d_model = d_model,
            .context = context,
            .vocab = vocab,
            .bos = vocab - 1,
            .eos = vocab - 1};
}

inline std::filesystem::path write_random_gpt2(const std::filesystem::path& folder, const train::ModelShape& shape,
                                               uint64_t seed) {
    std::filesystem::create_directories(folder);
    std::ofstream(folder / "config.json") << train::gpt2_config_json(shape);
    NamedTensors tensors;
    for (auto& [name, value] : train::init_gpt2(shape, seed))
        tensors.emplace_back(name, value.detach());
    write_safetensors(folder / "model.safetensors", tensors);
    return folder;
}

} // namespace hookscope::test
