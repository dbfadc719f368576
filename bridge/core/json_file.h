#pragma once
// Reading the small text and JSON files of a checkpoint folder, with errors that name
// the file and a size cap so that a wrong path cannot make us read gigabytes.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace hookscope {

inline constexpr std::uintmax_t kMaxJsonBytes = std::uintmax_t{512} << 20;

// The whole file. Throws CheckpointError when it cannot be read or is over `max_bytes`.
std::string read_text_file(const std::filesystem::path& file, std::uintmax_t max_bytes = kMaxJsonBytes);

// The parsed file. Throws CheckpointError as above, or when it is not JSON (with the
// position of the error).
nlohmann::json read_json_file(const std::filesystem::path& file, std::uintmax_t max_bytes = kMaxJsonBytes);

// As read_json_file, or nullopt when the file does not exist.
std::optional<nlohmann::json> read_json_file_if_present(const std::filesystem::path& file);

// Parses JSON text; `where` names its origin in the error.
nlohmann::json parse_json_text(std::string_view text, const std::string& where);

} // namespace hookscope
