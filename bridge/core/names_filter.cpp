#include "bridge/core/names_filter.h"

#include "bridge/core/errors.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <variant>

namespace hookscope {
namespace {

// Hook names are short; a regex that needs more steps than this is pathological.
constexpr uint32_t kMatchLimit = 100000;

constexpr std::string_view kSpace = " \t\r\n";

// Index of the `/` that closes a regex opened at `open`, skipping escaped characters;
// npos when there is none.
std::size_t closing_slash(std::string_view text, std::size_t open) {
    std::size_t k = open + 1;
    while (k < text.size() && text[k] != '/')
        k += (text[k] == '\\') ? 2 : 1;
    return k < text.size() ? k : std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(kSpace);
    return s.substr(first, last - first + 1);
}

struct Regex {
    std::shared_ptr<pcre2_code> code;
    std::shared_ptr<pcre2_match_context> context;
};

Regex compile_regex(std::string_view item, std::string_view pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &error,
                                     &offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw FilterError("names filter item `" + std::string(item) + "`: invalid regular expression: " +
                          reinterpret_cast<const char*>(message) + " at offset " + std::to_string(offset));
    }
    Regex regex;
    regex.code.reset(code, pcre2_code_free);
    regex.context.reset(pcre2_match_context_create(nullptr), pcre2_match_context_free);
    pcre2_set_match_limit(regex.context.get(), kMatchLimit);
    return regex;
}

// Splits the filter text into items; commas inside /…/ belong to the regex.
std::vector<std::string_view> split_items(std::string_view text) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    std::size_t i = 0;
    while (i <= text.size()) {
        // Skip leading spaces to see whether this item is a regex.
        const std::size_t j = std::min(text.find_first_not_of(kSpace, i), text.size());
        if (j < text.size() && text[j] == '/') {
            const std::size_t k = closing_slash(text, j);
            if (k == std::string_view::npos) {
                throw FilterError("names filter item `" + std::string(trim(text.substr(start))) +
                                  "`: regular expression has no closing `/`");
            }
            i = k + 1;
        }
        const std::size_t comma = text.find(',', i);
        const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
        items.push_back(text.substr(start, end - start));
        start = i = end + 1;
    }
    return items;
}

} // namespace

struct NamesFilter::Item {
    std::string text;                         // as written, trimmed
    std::variant<std::string, Regex> matcher; // glob/exact pattern, or compiled regex

    bool matches(std::string_view name) const {
        if (const auto* glob = std::get_if<std::string>(&matcher)) return glob_match(*glob, name);
        const Regex& regex = std::get<Regex>(matcher);
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
            pcre2_match_data_create_from_pattern(regex.code.get(), nullptr), pcre2_match_data_free);
        const int rc = pcre2_match(regex.code.get(), reinterpret_cast<PCRE2_SPTR>(name.data()), name.size(), 0, 0,
                                   data.get(), regex.context.get());
        if (rc >= 0) return true;
        if (rc == PCRE2_ERROR_NOMATCH) return false;
        throw FilterError("names filter item `" + text + "`: regular expression failed on `" + std::string(name) +
                          "` (error " + std::to_string(rc) + ", e.g. match limit exceeded)");
    }
};

NamesFilter::NamesFilter() = default;
NamesFilter::~NamesFilter() = default;
NamesFilter::NamesFilter(const NamesFilter&) = default;
NamesFilter& NamesFilter::operator=(const NamesFilter&) = default;
NamesFilter::NamesFilter(NamesFilter&&) noexcept = default;
NamesFilter& NamesFilter::operator=(NamesFilter&&) noexcept = default;

NamesFilter::NamesFilter(std::string_view text) : text_(text) {
    for (std::string_view raw : split_items(text)) {
        const std::string_view item = trim(raw);
        if (item.empty()) continue; // "a, b," and "" select as if the empty item were absent
        auto parsed = std::make_shared<Item>();
        parsed->text = std::string(item);
        if (item.front() == '/') {
            if (closing_slash(item, 0) != item.size() - 1) {
                throw FilterError("names filter item `" + parsed->text +
                                  "`: text after the closing `/` of a regular expression");
            }
            parsed->matcher = compile_regex(item, item.substr(1, item.size() - 2));
        } else {
            parsed->matcher = std::string(item);
        }
        items_.push_back(std::move(parsed));
    }
}

bool NamesFilter::matches(std::string_view name) const {
    if (items_.empty()) return true;
    for (const auto& item : items_) {
        if (item->matches(name)) return true;
    }
    return false;
}

std::vector<std::string> NamesFilter::items() const {
    std::vector<std::string> out;
    for (const auto& item : items_)
        out.push_back(item->text);
    return out;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    std::size_t p = 0, t = 0;
    std::size_t star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

} // namespace hookscope
