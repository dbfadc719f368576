#pragma once
// Regular expressions over UTF-8 text with Unicode semantics (PCRE2, UTF + UCP, JIT),
// for the patterns tokenizer files carry. Those are written for Oniguruma (Hugging
// Face tokenizers) or Python's `regex`; where PCRE2 reads a class differently, the
// pattern is rewritten: `\s` is Unicode White_Space (PCRE2's `\s` also takes U+180E),
// `\w` is letters, marks, decimal digits and connector punctuation.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookscope {

class UnicodeRegex {
public:
    enum class Syntax { Regex, Literal };

    // Throws CheckpointError naming `where` when the pattern does not compile.
    UnicodeRegex(std::string_view pattern, Syntax syntax, std::string_view where);

    // [start, end) byte offsets of the non-empty matches in `text`, left to right,
    // not overlapping. `text` must be valid UTF-8 (checked by the caller once).
    std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const;

    // `text` with every match replaced by `replacement` (taken literally).
    std::string replace_all(std::string_view text, std::string_view replacement) const;

    const std::string& pattern() const { return pattern_; }

private:
    struct Compiled;
    std::shared_ptr<const Compiled> compiled_;
    std::string pattern_;
};

// The pattern rewritten for PCRE2 (see above); exposed for tests.
std::string pcre2_pattern_for(std::string_view pattern);

} // namespace hookscope
