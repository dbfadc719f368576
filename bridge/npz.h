#pragma once
// NumPy .npz writing: an uncompressed zip of .npy arrays, readable with
// numpy.load(path, allow_pickle=False).

#include "bridge/safetensors.h" // NamedTensors

#include <filesystem>
#include <string>

namespace hookscope {

// Writes one array per tensor (named by its key) plus, when `metadata_json` is not
// empty, a 0-d unicode array `__metadata__` holding it. Atomic; throws ExportError.
void write_npz(const std::filesystem::path& path, const NamedTensors& tensors, const std::string& metadata_json);

} // namespace hookscope
