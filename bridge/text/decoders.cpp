#include "bridge/text/text_pipeline.h"

#include "bridge/text/tokenizer_json.h"

namespace hookscope {

using namespace tokenizer_json;

namespace {

class DecoderSequence final : public Decoder {
public:
    explicit DecoderSequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
    void apply(std::vector<std::string>& tokens, DecodeMode mode) const override {
        for (const auto& step : steps_)
            step->apply(tokens, mode);
    }

private:
    std::vector<std::unique_ptr<Decoder>> steps_;
};

// Byte-level characters back to the bytes they stand for. A token with any other
// character (an added token such as "<|endoftext|>" is fine, "▁x" is not) is kept as
// its own UTF-8, as Hugging Face does.
class ByteLevelDecoder final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens, DecodeMode) const override {
        for (std::string& token : tokens) {
            std::string bytes;
            bytes.reserve(token.size());
            bool all_mapped = true;
            std::size_t i = 0;
            while (i < token.size() && all_mapped) {
                const std::size_t n = unicode::valid_sequence_length(std::string_view(token).substr(i));
                const int byte =
                    n == 0 ? -1 : byte_level_byte(unicode::decode_at(std::string_view(token).substr(i), n));
                all_mapped = byte >= 0;
                bytes += static_cast<char>(byte);
                i += std::max<std::size_t>(n, 1);
            }
            if (all_mapped) token = std::move(bytes);
        }
    }
};

// `▁` back to a space; in text, the first token loses its ▁ unless nothing was prepended.
class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string replacement, bool strips_first)
        : replacement_(std::move(replacement)), strips_first_(strips_first) {}
    void apply(std::vector<std::string>& tokens, DecodeMode mode) const override {
        for (std::size_t k = 0; k < tokens.size(); ++k) {
            const bool drop = k == 0 && strips_first_ && mode == DecodeMode::Text;
            std::string out;
            std::size_t i = 0;
            const std::string& token = tokens[k];
            while (i < token.size()) {
                if (token.compare(i, replacement_.size(), replacement_) == 0) {
                    if (!drop) out += ' ';
                    i += replacement_.size();
                } else {
                    out += token[i++];
                }
            }
            tokens[k] = std::move(out);
        }
    }

private:
    std::string replacement_;
    bool strips_first_;
};

std::optional<unsigned char> byte_token_value(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
    unsigned value = 0;
    for (std::size_t i = 3; i < 5; ++i) {
        const char c = token[i];
        const int digit = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (digit < 0) return std::nullopt;
        value = value * 16 + static_cast<unsigned>(digit);
    }
    return static_cast<unsigned char>(value);
}

// `<0xNN>` tokens to their bytes. In text, a run of byte tokens that is not valid
// UTF-8 becomes one U+FFFD per byte (Hugging Face's rule); for display the bytes stay.
class ByteFallbackDecoder final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens, DecodeMode mode) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string run; // consecutive byte tokens
        std::size_t run_tokens = 0;
        const auto flush = [&] {
            if (run_tokens == 0) return;
            if (mode == DecodeMode::Display || !unicode::invalid_utf8_offset(run)) {
                out.push_back(run);
            } else {
                for (std::size_t k = 0; k < run_tokens; ++k)
                    out.emplace_back("\xEF\xBF\xBD");
            }
            run.clear();
            run_tokens = 0;
        };
        for (std::string& token : tokens) {
            if (const auto byte = byte_token_value(token)) {
                run += static_cast<char>(*byte);
                ++run_tokens;
                continue;
            }
            flush();
            out.push_back(std::move(token));
        }
        flush();
        tokens = std::move(out);
    }
};

class Fuse final : public Decoder {
public:
    void apply(std::vector<std::string>& tokens, DecodeMode) const override {
        std::string all;
        for (const std::string& token : tokens)
            all += token;
        tokens.assign(1, std::move(all));
    }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each
// token. Display keeps them: it is there to undo the prepended space of a whole text.
class StripDecoder final : public Decoder {
public:
    StripDecoder(std::string content, std::size_t start, std::size_t stop)
        : content_(std::move(content)), start_(start), stop_(stop) {}
    void apply(std::vector<std::string>& tokens, DecodeMode mode) const override {
        if (mode == DecodeMode::Display) return;
        const std::size_t n = content_.size();
        for (std::string& token : tokens) {
            std::size_t begin = 0, end = token.size();
            for (std::size_t k = 0; k < start_ && end - begin >= n && token.compare(begin, n, content_) == 0; ++k)
                begin += n;
            for (std::size_t k = 0; k < stop_ && end - begin >= n && token.compare(end - n, n, content_) == 0; ++k)
                end -= n;
            token = token.substr(begin, end - begin);
        }
    }

private:
    std::string content_;
    std::size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(UnicodeRegex pattern, std::string content)
        : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void apply(std::vector<std::string>& tokens, DecodeMode) const override {
        for (std::string& token : tokens) {
            // Byte tokens may not be UTF-8; the pattern only runs over valid text.
            if (!unicode::invalid_utf8_offset(token)) token = pattern_.replace_all(token, content_);
        }
    }

private:
    UnicodeRegex pattern_;
    std::string content_;
};

} // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() {
    return std::make_unique<ByteLevelDecoder>();
}

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
    const std::string type = type_of(j, where);
    const Fields f(j, where + " (" + type + ")");
    if (type == "Sequence")
        return std::make_unique<DecoderSequence>(sequence_steps<Decoder>(f, "decoders", where, make_decoder));
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Metaspace") {
        bool strips_first = f.boolean("add_prefix_space", true);
        if (f.find("prepend_scheme")) strips_first = f.string("prepend_scheme") != "never";
        return std::make_unique<MetaspaceDecoder>(f.character("replacement", "\u2581"), strips_first);
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<Fuse>();
    if (type == "Strip") {
        return std::make_unique<StripDecoder>(f.character("content", " "), f.count("start", 0), f.count("stop", 0));
    }
    if (type == "Replace") return std::make_unique<ReplaceDecoder>(f.pattern("pattern"), f.string("content"));
    unsupported(where, type, "Sequence, ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace");
}

} // namespace hookscope
