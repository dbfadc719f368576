#pragma once
// Token ids as people type them, and the checks that ids fit a vocabulary and a context.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

// "50256, 464 2068": ids separated by commas and/or white space (none for blank
// text). Throws InputError naming the first item that is not a non-negative integer.
std::vector<int64_t> parse_token_ids(std::string_view text);

// Throws InputError for the first id outside a vocabulary of `vocabulary` ids, naming
// the id, its position and the range.
void check_token_ids(std::span<const int64_t> ids, int64_t vocabulary);

// Throws InputError unless `ids` can run at positions start..start+size-1 of a model
// with a context of `context` positions and `vocabulary` ids: not empty, within the
// context, every id within the vocabulary.
void check_run_tokens(std::span<const int64_t> ids, int64_t start, int64_t context, int64_t vocabulary);

// Throws InputError when `id` is outside the vocabulary, calling it `what` (e.g.
// "target token").
void check_token_id(int64_t id, int64_t vocabulary, std::string_view what);

} // namespace hookscope
