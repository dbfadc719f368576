#pragma once
// Atomic file replacement: write a temporary file next to the destination, flush
// it to disk, then rename it over the destination.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

namespace hookscope {

// Sink handed to the writer callback; every call appends bytes to the temporary file.
class ByteSink {
public:
    virtual ~ByteSink() = default;
    virtual void write(const void* data, std::size_t size) = 0;
    void write(std::string_view text) { write(text.data(), text.size()); }
};

// Calls `produce` with a sink over a temporary file in `path`'s folder and renames
// it to `path` when `produce` returns. If anything throws or fails, the temporary
// file is removed, `path` keeps its previous content, and ExportError is thrown
// (naming the file and the reason).
void write_file_atomically(const std::filesystem::path& path, const std::function<void(ByteSink&)>& produce);

// The same for a text already in memory.
inline void write_text_atomically(const std::filesystem::path& path, std::string_view text) {
    write_file_atomically(path, [text](ByteSink& out) { out.write(text); });
}

} // namespace hookscope
