#include "bridge/text/unicode_regex.h"

#include "bridge/core/errors.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace hookscope {
namespace {

// Tokenizer patterns are linear in practice; this bounds a pathological one.
constexpr uint32_t kMatchLimit = 50'000'000;

constexpr std::string_view kWhiteSpace = "\\p{White_Space}";
constexpr std::string_view kWordChars = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

} // namespace

struct UnicodeRegex::Compiled {
    pcre2_code* code = nullptr;
    pcre2_match_context* context = nullptr;
    ~Compiled() {
        pcre2_match_context_free(context);
        pcre2_code_free(code);
    }
};

std::string pcre2_pattern_for(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size() + 32);
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char e = pattern[++i];
            if (e == 's') {
                out += kWhiteSpace;
            } else if (e == 'S') {
                out += "\\P{White_Space}";
            } else if (e == 'w') {
                out += in_class ? std::string(kWordChars) : "[" + std::string(kWordChars) + "]";
            } else if (e == 'W' && !in_class) {
                out += "[^" + std::string(kWordChars) + "]";
            } else {
                out += c;
                out += e;
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out += c;
            // A `]` right after `[` or `[^` is a literal member, not the end.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out += c;
    }
    return out;
}

UnicodeRegex::UnicodeRegex(std::string_view pattern, Syntax syntax, std::string_view where) : pattern_(pattern) {
    const std::string source = syntax == Syntax::Regex ? pcre2_pattern_for(pattern) : std::string(pattern);
    // PCRE2_LITERAL takes no UCP (which only changes how classes read).
    const uint32_t options = syntax == Syntax::Literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto compiled = std::make_shared<Compiled>();
    compiled->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &error, &offset, nullptr);
    if (!compiled->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw CheckpointError(std::string(where) + ": pattern `" + std::string(pattern) +
                              "` is not a regular expression we can run: " + reinterpret_cast<const char*>(message) +
                              " at offset " + std::to_string(offset));
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE); // falls back to the interpreter if JIT is unavailable
    compiled->context = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(compiled->context, kMatchLimit);
    compiled_ = std::move(compiled);
}

std::vector<std::pair<std::size_t, std::size_t>> UnicodeRegex::matches(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> found;
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
        pcre2_match_data_create_from_pattern(compiled_->code, nullptr), pcre2_match_data_free);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t start = 0;
    while (start <= text.size()) {
        const int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data.get(),
                                   compiled_->context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            throw InputError("pattern `" + pattern_ +
                             "` failed on the text: " + reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
        const std::size_t begin = ovector[0], end = ovector[1];
        if (end > begin) {
            found.emplace_back(begin, end);
            start = end;
        } else {
            // An empty match: step over one whole character.
            start = end + 1;
            while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
                ++start;
        }
    }
    return found;
}

std::string UnicodeRegex::replace_all(std::string_view text, std::string_view replacement) const {
    std::string out;
    out.reserve(text.size());
    std::size_t last = 0;
    for (const auto& [begin, end] : matches(text)) {
        out.append(text.substr(last, begin - last));
        out.append(replacement);
        last = end;
    }
    out.append(text.substr(last));
    return out;
}

} // namespace hookscope
