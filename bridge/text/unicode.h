#pragma once
// UTF-8 helpers and Unicode normalization (ICU). Strings are UTF-8 in std::string;
// "byte strings" (decoded tokens) may hold bytes that are not valid UTF-8.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookscope::unicode {

// Offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid); nullopt when all is valid.
std::optional<std::size_t> invalid_utf8_offset(std::string_view text);

// Length in bytes of the valid UTF-8 sequence starting at `text[0]`, 0 when there is none.
std::size_t valid_sequence_length(std::string_view text);

// The code point of the valid sequence at `text[0]` (which must exist).
char32_t decode_at(std::string_view text, std::size_t length);

void append_utf8(std::string& out, char32_t code_point);

// Valid UTF-8: each maximal invalid subsequence becomes U+FFFD, as Unicode recommends
// (and as Rust's String::from_utf8_lossy does).
std::string lossy_utf8(std::string_view bytes);

// Unicode's White_Space property (what Python's and Oniguruma's `\s` match).
bool is_white_space(char32_t code_point);

// Letters and numbers (Alphabetic or a General_Category N), and `_`: what an added
// token marked single_word must not touch.
bool is_word_char(char32_t code_point);

enum class NormalForm { NFC, NFD, NFKC, NFKD };

// Unicode normalization of valid UTF-8 text.
std::string normalize(std::string_view text, NormalForm form);

// Full Unicode lowercase mapping (locale independent).
std::string to_lower(std::string_view text);

} // namespace hookscope::unicode
