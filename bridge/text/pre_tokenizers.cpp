#include "bridge/text/text_pipeline.h"

#include "bridge/text/tokenizer_json.h"

#include <array>

namespace hookscope {

using namespace tokenizer_json;

const std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

struct ByteLevelTables {
    std::array<char32_t, 256> to_char{};
    std::array<std::string, 256> to_utf8; // to_char as UTF-8, for fast appends
    std::array<int16_t, 0x144> to_byte{}; // the inverse; every mapped char is below U+0144
};

const ByteLevelTables& byte_level_tables() {
    static const ByteLevelTables tables = [] {
        ByteLevelTables t;
        t.to_byte.fill(-1);
        char32_t next = 256;
        for (unsigned b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            t.to_char[b] = printable ? b : next++;
            unicode::append_utf8(t.to_utf8[b], t.to_char[b]);
            t.to_byte[t.to_char[b]] = static_cast<int16_t>(b);
        }
        return t;
    }();
    return tables;
}

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior behavior_from(const Fields& f) {
    const std::string name = f.string("behavior");
    if (name == "Removed") return Behavior::Removed;
    if (name == "Isolated") return Behavior::Isolated;
    if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (name == "MergedWithNext") return Behavior::MergedWithNext;
    if (name == "Contiguous") return Behavior::Contiguous;
    throw CheckpointError(f.where() + ": `behavior` `" + name +
                          "` is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

struct Span {
    std::size_t begin, end;
    bool match;
};

// Splits `piece` at `matches` the way Hugging Face's split behaviours do, appending
// the non-empty results to `out`.
void split_piece(const Piece& piece, const std::vector<std::pair<std::size_t, std::size_t>>& matches, Behavior behavior,
                 bool invert, std::vector<Piece>& out) {
    std::vector<Span> spans;
    std::size_t last = 0;
    for (const auto& [begin, end] : matches) {
        if (begin > last) spans.push_back({last, begin, invert});
        spans.push_back({begin, end, !invert});
        last = end;
    }
    if (last < piece.text.size()) spans.push_back({last, piece.text.size(), invert});

    std::vector<Span> merged;
    switch (behavior) {
    case Behavior::Removed:
        for (const Span& s : spans)
            if (!s.match) merged.push_back(s);
        break;
    case Behavior::Isolated: break;
    case Behavior::MergedWithPrevious: {
        bool previous_match = false;
        for (const Span& s : spans) {
            if (s.match && !previous_match && !merged.empty()) {
                merged.back().end = s.end;
            } else {
                merged.push_back(s);
            }
            previous_match = s.match;
        }
        break;
    }
    case Behavior::MergedWithNext: {
        bool next_match = false; // walking backwards: whether the span after this one matched
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->match && !next_match && !merged.empty()) {
                merged.back().begin = it->begin;
            } else {
                merged.push_back(*it);
            }
            next_match = it->match;
        }
        std::reverse(merged.begin(), merged.end());
        break;
    }
    case Behavior::Contiguous: {
        bool previous_match = false;
        for (const Span& s : spans) {
            if (s.match == previous_match && !merged.empty()) {
                merged.back().end = s.end;
            } else {
                merged.push_back(s);
            }
            previous_match = s.match;
        }
        break;
    }
    }
    for (const Span& s : behavior == Behavior::Isolated ? spans : merged) {
        if (s.end > s.begin)
            out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_start && s.begin == 0});
    }
}

class PreTokenizerSequence final : public PreTokenizer {
public:
    explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
    void apply(std::vector<Piece>& pieces) const override {
        for (const auto& step : steps_)
            step->apply(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class Split final : public PreTokenizer {
public:
    Split(UnicodeRegex pattern, Behavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size());
        for (const Piece& piece : pieces)
            split_piece(piece, pattern_.matches(piece.text), behavior_, invert_, out);
        pieces = std::move(out);
    }

private:
    UnicodeRegex pattern_;
    Behavior behavior_;
    bool invert_;
};

// GPT-2's pre-tokenizer: optionally a leading space, GPT-2's split pattern, then every
// byte written as its byte-level character.
class ByteLevel final : public PreTokenizer {
public:
    ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
        if (use_regex) split_.emplace(kGpt2SplitPattern, UnicodeRegex::Syntax::Regex, "GPT-2 split pattern");
    }
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> split;
        split.reserve(pieces.size());
        for (Piece& piece : pieces) {
            if (piece.text.empty()) continue;
            if (add_prefix_space_ && piece.text.front() != ' ') piece.text.insert(0, 1, ' ');
            if (split_) {
                split_piece(piece, split_->matches(piece.text), Behavior::Isolated, false, split);
            } else {
                split.push_back(std::move(piece));
            }
        }
        const ByteLevelTables& tables = byte_level_tables();
        for (Piece& piece : split) {
            std::string mapped;
            mapped.reserve(piece.text.size() * 2);
            for (const char c : piece.text)
                mapped += tables.to_utf8[static_cast<unsigned char>(c)];
            piece.text = std::move(mapped);
        }
        pieces = std::move(split);
    }

private:
    bool add_prefix_space_;
    std::optional<UnicodeRegex> split_;
};

enum class PrependScheme { Always, First, Never };

// SentencePiece's convention: spaces become `replacement` (▁), one is prepended, and
// the text is split before each of them.
class Metaspace final : public PreTokenizer {
public:
    Metaspace(std::string replacement, PrependScheme scheme, bool split)
        : replacement_(std::move(replacement)), scheme_(scheme), split_(split),
          splitter_(replacement_, UnicodeRegex::Syntax::Literal, "Metaspace") {}
    void apply(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size());
        for (Piece& piece : pieces) {
            if (piece.text.empty()) continue;
            std::string text;
            text.reserve(piece.text.size() + replacement_.size());
            for (const char c : piece.text) {
                if (c == ' ') {
                    text += replacement_;
                } else {
                    text += c;
                }
            }
            const bool starts = text.compare(0, replacement_.size(), replacement_) == 0;
            if (!starts && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && piece.at_start))) {
                text.insert(0, replacement_);
            }
            Piece replaced{std::move(text), piece.at_start};
            if (split_) {
                split_piece(replaced, splitter_.matches(replaced.text), Behavior::MergedWithNext, false, out);
            } else if (!replaced.text.empty()) {
                out.push_back(std::move(replaced));
            }
        }
        pieces = std::move(out);
    }

private:
    std::string replacement_;
    PrependScheme scheme_;
    bool split_;
    UnicodeRegex splitter_;
};

PrependScheme prepend_scheme_from(const Fields& f) {
    if (f.find("prepend_scheme")) {
        const std::string scheme = f.string("prepend_scheme");
        if (scheme == "always") return PrependScheme::Always;
        if (scheme == "first") return PrependScheme::First;
        if (scheme == "never") return PrependScheme::Never;
        throw CheckpointError(f.where() + ": `prepend_scheme` `" + scheme + "` is not one of always, first, never");
    }
    // Files from before prepend_scheme existed say add_prefix_space.
    return f.boolean("add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
}

} // namespace

char32_t byte_level_char(unsigned char byte) {
    return byte_level_tables().to_char[byte];
}

int byte_level_byte(char32_t ch) {
    return ch < byte_level_tables().to_byte.size() ? byte_level_tables().to_byte[ch] : -1;
}

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space) {
    return std::make_unique<ByteLevel>(add_prefix_space, true);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
    const std::string type = type_of(j, where);
    const Fields f(j, where + " (" + type + ")");
    if (type == "Sequence")
        return std::make_unique<PreTokenizerSequence>(
            sequence_steps<PreTokenizer>(f, "pretokenizers", where, make_pre_tokenizer));
    if (type == "ByteLevel") {
        return std::make_unique<ByteLevel>(f.boolean("add_prefix_space", true), f.boolean("use_regex", true));
    }
    if (type == "Split") {
        return std::make_unique<Split>(f.pattern("pattern"), behavior_from(f), f.boolean("invert", false));
    }
    if (type == "Metaspace") {
        return std::make_unique<Metaspace>(f.character("replacement", "\u2581"), prepend_scheme_from(f),
                                           f.boolean("split", true));
    }
    if (type == "Digits") {
        const bool individual = f.boolean("individual_digits", false);
        return std::make_unique<Split>(
            UnicodeRegex(individual ? "\\p{N}" : "\\p{N}+", UnicodeRegex::Syntax::Regex, where), Behavior::Isolated,
            false);
    }
    unsupported(where, type, "Sequence, ByteLevel, Split, Metaspace, Digits");
}

} // namespace hookscope
