#pragma once
// Token ids as people type them, and the one check that ids fit a vocabulary.

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

// Throws InputError when `id` is outside the vocabulary, calling it `what` (e.g.
// "target token").
void check_token_id(int64_t id, int64_t vocabulary, std::string_view what);

} // namespace hookscope
