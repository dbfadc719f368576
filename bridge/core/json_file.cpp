#include "bridge/core/json_file.h"

#include "bridge/core/errors.h"

#include <fstream>
#include <sstream>

namespace hookscope {

namespace fs = std::filesystem;

std::string read_text_file(const fs::path& file, std::uintmax_t max_bytes) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
        throw CheckpointError(file.string() + ": " + (fs::exists(file, ec) ? "not a regular file" : "no such file"));
    }
    const std::uintmax_t size = fs::file_size(file, ec);
    if (ec) throw CheckpointError(file.string() + ": cannot read: " + ec.message());
    if (size > max_bytes) {
        throw CheckpointError(file.string() + ": " + std::to_string(size) + " bytes, more than the " +
                              std::to_string(max_bytes) + " this file may have");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) throw CheckpointError(file.string() + ": cannot open for reading");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw CheckpointError(file.string() + ": read error");
    return std::move(text).str();
}

nlohmann::json parse_json_text(std::string_view text, const std::string& where) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw CheckpointError(where + ": not valid JSON (at byte " + std::to_string(e.byte) + ")");
    } catch (const nlohmann::json::exception&) {
        // A number too large for a double (out_of_range.406), found by fuzz_tokenizer.
        throw CheckpointError(where + ": not valid JSON (a number out of range)");
    }
}

nlohmann::json read_json_file(const fs::path& file, std::uintmax_t max_bytes) {
    return parse_json_text(read_text_file(file, max_bytes), file.string());
}

std::optional<nlohmann::json> read_json_file_if_present(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return std::nullopt;
    return read_json_file(file);
}

} // namespace hookscope
