#include "bridge/core/token_ids.h"

#include "bridge/core/errors.h"

#include <charconv>

namespace hookscope {
namespace {

bool is_separator(char c) {
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string vocabulary_range(int64_t vocabulary) {
    return "the vocabulary (0 to " + std::to_string(vocabulary - 1) + ")";
}

} // namespace

std::vector<int64_t> parse_token_ids(std::string_view text) {
    std::vector<int64_t> ids;
    std::size_t i = 0;
    while (i < text.size()) {
        if (is_separator(text[i])) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_separator(text[end]))
            ++end;
        const std::string_view item = text.substr(i, end - i);
        int64_t id = 0;
        const auto [stop, error] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (error != std::errc() || stop != item.data() + item.size() || id < 0) {
            throw InputError("token id `" + std::string(item) + "` is not a non-negative integer");
        }
        ids.push_back(id);
        i = end;
    }
    return ids;
}

void check_token_ids(std::span<const int64_t> ids, int64_t vocabulary) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= vocabulary) {
            throw InputError("token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                             " is outside " + vocabulary_range(vocabulary));
        }
    }
}

void check_run_tokens(std::span<const int64_t> ids, int64_t start, int64_t context, int64_t vocabulary) {
    if (ids.empty()) throw InputError("no tokens to run: the sequence is empty");
    const int64_t end = start + static_cast<int64_t>(ids.size());
    if (end > context) {
        throw InputError(std::to_string(end) + " tokens exceed the model's context of " + std::to_string(context) +
                         " positions");
    }
    check_token_ids(ids, vocabulary);
}

void check_token_id(int64_t id, int64_t vocabulary, std::string_view what) {
    if (id < 0 || id >= vocabulary) {
        throw InputError(std::string(what) + " " + std::to_string(id) + " is outside " + vocabulary_range(vocabulary));
    }
}

} // namespace hookscope
