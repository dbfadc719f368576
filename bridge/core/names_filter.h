#pragma once
// The names filter: one syntax for the GUI filter box, the command line and the API.
//
//   ""                       everything
//   "a, b, c"                any item matches (items trimmed of surrounding spaces)
//   "blocks.0.hook_resid_pre"   exact name
//   "blocks.*.attn.hook_pattern" glob over the whole name: * any run (dots too), ? one char
//   "/resid_(pre|post)$/"     PCRE regex searched anywhere; a comma inside /…/ is the regex's

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class NamesFilter {
public:
    // Matches everything.
    NamesFilter();
    // Throws FilterError naming the malformed item (e.g. an unclosed or invalid regex).
    explicit NamesFilter(std::string_view text);
    ~NamesFilter();
    NamesFilter(const NamesFilter&);
    NamesFilter& operator=(const NamesFilter&);
    NamesFilter(NamesFilter&&) noexcept;
    NamesFilter& operator=(NamesFilter&&) noexcept;

    bool matches(std::string_view name) const;
    bool matches_everything() const { return items_.empty(); }
    const std::string& text() const { return text_; }

    // The items as written, trimmed (for display and tests).
    std::vector<std::string> items() const;

private:
    struct Item;
    std::string text_;
    std::vector<std::shared_ptr<const Item>> items_; // immutable, shared between copies
};

// Whole-name glob match: `*` any run of characters (dots included), `?` one character.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace hookscope
