#pragma once
// The header of a NumPy .npy array: its dictionary text, parsed without evaluating
// it (no pickle, no Python literals beyond what NumPy writes). Free of LibTorch.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

struct NpyHeader {
    std::string descr;          // e.g. "<f4", "|u1", "<U12"
    bool fortran_order = false; // column-major data
    std::vector<int64_t> shape; // () for a 0-d array
};

// Parses the dictionary of a .npy header ("{'descr': '<f4', 'fortran_order': False,
// 'shape': (1, 12, 64), }"). Throws std::invalid_argument saying what is wrong.
NpyHeader parse_npy_header(std::string_view dict);

// The bytes one element of `descr` takes, and whether this reader knows it: little-
// endian (or byte-sized) bool, integer and floating types, and "<U<n>" unicode.
std::optional<int64_t> npy_element_size(std::string_view descr);

// A whole .npy array's layout: magic, version (1 to 3), header, and data whose size
// matches the shape and type. Throws std::invalid_argument saying what is wrong.
struct NpyLayout {
    NpyHeader header;
    std::size_t data_offset = 0;
    int64_t element_size = 0;
};
NpyLayout parse_npy(std::string_view bytes);

} // namespace hookscope
