#pragma once
// A steering vector as a file: one tensor, `steering`, in a safetensors file whose
// metadata says where it came from. `HOOK=add:FILE#steering*SCALE` adds it back.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

inline constexpr const char* kSteeringKey = "steering";

// Where a steering vector came from, as its file's metadata records it.
struct SteeringOrigin {
    std::string hook;
    std::optional<int64_t> head;
    int64_t position = 0;
    std::string source;                // "pinned - this" or "this"
    std::vector<int64_t> toward, away; // the runs' token ids (away: empty for one run)
};

// Writes `vector` as the tensor `steering` with metadata (format "hookscope.steering",
// hook, head, position, source, toward_tokens, away_tokens as JSON lists), creating
// the folder. Atomic; throws ExportError naming the file and why, leaving no file.
void write_steering_file(const std::filesystem::path& path, const at::Tensor& vector, const SteeringOrigin& origin);

} // namespace hookscope
