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
