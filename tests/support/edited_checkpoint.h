#pragma once
// A copy of a test checkpoint with its tensors (and optionally its config) changed:
// broken checkpoints for the tests of what loading them reports.

#include "bridge/model/safetensors.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>

namespace hookscope::test {

// Writes `folder` with `original`'s config.json (or `config`, when given) and its
// model.safetensors after `edit` has changed the tensors. Returns `folder`.
inline std::filesystem::path edited_checkpoint(const std::filesystem::path& original,
                                               const std::filesystem::path& folder,
                                               const std::function<void(NamedTensors&)>& edit,
                                               const std::string& config = {}) {
    std::filesystem::create_directories(folder);
    std::ostringstream original_config;
    original_config << std::ifstream(original / "config.json").rdbuf();
    std::ofstream(folder / "config.json") << (config.empty() ? original_config.str() : config);
    const auto weights = SafetensorsFile::open(original / "model.safetensors");
    NamedTensors tensors;
    for (const TensorInfo& info : weights->tensors())
        tensors.emplace_back(info.name, weights->tensor(info.name));
    edit(tensors);
    write_safetensors(folder / "model.safetensors", tensors);
    return folder;
}

// `edit` for edited_checkpoint: one NaN, one +inf and one -inf in the weight `name`.
inline std::function<void(NamedTensors&)> non_finite_in(const std::string& name) {
    return [name](NamedTensors& tensors) {
        for (auto& [key, tensor] : tensors) {
            if (key != name) continue;
            tensor = tensor.clone();
            tensor.view(-1)[5] = std::numeric_limits<float>::quiet_NaN();
            tensor.view(-1)[7] = std::numeric_limits<float>::infinity();
            tensor.view(-1)[9] = -std::numeric_limits<float>::infinity();
        }
    };
}

} // namespace hookscope::test
