#pragma once
// The safetensors header (8-byte little-endian length, then a JSON object), parsed
// and validated without LibTorch: every promise it makes about the data buffer is
// checked here, so that the fuzzer and sanitizer builds can exercise it alone.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

enum class DType { F64, F32, F16, BF16, I64, I32, I8, U8, Bool };

std::string_view dtype_name(DType dtype); // "F32", ...
std::size_t dtype_size(DType dtype);      // bytes per element

// "[2, 3]": a shape as messages print it.
std::string dims_text(const std::vector<int64_t>& shape);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0; // byte range inside the data buffer, [begin, end)
    uint64_t end = 0;
};

struct SafetensorsHeader {
    uint64_t length = 0;             // of the JSON text, which starts at byte 8
    std::vector<TensorInfo> tensors; // in the order of their byte ranges
    std::map<std::string, std::string> metadata;
};

// Parses the header of a whole safetensors file (`size` bytes at `data`) and checks
// that every tensor's dtype, shape and byte range are well formed, lie inside the
// data buffer and do not overlap. Throws CheckpointError "<where>: <problem>".
SafetensorsHeader parse_safetensors_header(const std::byte* data, std::size_t size, const std::string& where);

// What a writer puts before the data buffer: the length (8 bytes, little-endian) of
// `header_json`, then the JSON text padded with spaces so the data starts 8-byte aligned.
std::string safetensors_prefix(std::string header_json);

} // namespace hookscope
