#pragma once
// The prompts file of an activation dataset (`hookscope collect --prompts FILE`):
// `.jsonl`, one {"text": "..."} or {"tokens": [ids]} object per line, or plain text,
// one prompt per line. Blank lines are skipped in both, so prompt indices count the
// prompts, not the lines.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

struct PromptLine {
    int line = 0;                    // 1-based line in the file, for messages
    std::optional<std::string> text; // text to encode, or
    std::vector<int64_t> tokens;     // token ids fed as given (when `text` is empty)
};

// Every prompt of `path`, in file order. Throws InputError naming the file and line of
// a malformed line (not JSON, not an object, neither "text" nor "tokens", ids that are
// not non-negative integers, an empty token list), or the file when it cannot be read
// or holds no prompt.
std::vector<PromptLine> read_prompt_file(const std::filesystem::path& path);

// "FILE:LINE" as messages name a prompt.
std::string prompt_where(const std::filesystem::path& path, int line);

} // namespace hookscope
