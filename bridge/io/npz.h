#pragma once
// NumPy .npz files: writing an uncompressed zip of .npy arrays, readable with
// numpy.load(path, allow_pickle=False), and reading what np.savez or
// np.savez_compressed wrote (never unpickling: object arrays are refused).

#include "bridge/model/safetensors.h" // NamedTensors

#include <filesystem>
#include <optional>
#include <string>

namespace hookscope {

// Writes one array per tensor (named by its key) plus, when `metadata_json` is not
// empty, a 0-d unicode array `__metadata__` holding it. Atomic; throws ExportError.
void write_npz(const std::filesystem::path& path, const NamedTensors& tensors, const std::string& metadata_json);

struct NpzContents {
    NamedTensors arrays;                      // in the archive's order
    std::optional<std::string> metadata_json; // the `__metadata__` string, when present
};

// Reads every array: bool, integer and floating types (little-endian), C or Fortran
// order; a 0-d unicode array `__metadata__` becomes metadata_json. Throws
// SessionError naming the file, the member and what is wrong.
NpzContents read_npz(const std::filesystem::path& path);

} // namespace hookscope
