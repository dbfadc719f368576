#pragma once
// The stages of a Hugging Face tokenizer around its model, as tokenizer.json names them:
// normalizers (text -> text), pre-tokenizers (text -> pieces the model encodes one by
// one) and decoders (token strings -> text). Each is built from its JSON object.

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

// A pre-tokenized piece of one text segment. `at_start`: the piece begins where the
// whole input text begins (Metaspace's "first" prepend scheme asks this).
struct Piece {
    std::string text;
    bool at_start = false;
};

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual std::string apply(std::string text) const = 0;
};

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    virtual void apply(std::vector<Piece>& pieces) const = 0;
};

// Decoding works on byte strings: a byte-level token may stand for part of a UTF-8
// character. `Display` decodes one token for showing it: it keeps bytes as they are
// and does not strip the leading space a sequence's first token loses in text.
enum class DecodeMode { Text, Display };

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void apply(std::vector<std::string>& tokens, DecodeMode mode) const = 0;
};

// Each throws CheckpointError naming `where` (e.g. "tokenizer.json: normalizer") for an
// unknown type or a malformed field.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where);

// GPT-2's byte-to-character table: printable bytes stand for themselves, the other 68
// map in order to U+0100... so that every byte string is a printable string.
char32_t byte_level_char(unsigned char byte);
// The byte a byte-level character stands for, or -1.
int byte_level_byte(char32_t ch);
// GPT-2's pre-tokenizer pattern (contractions, letters, numbers, other, spaces).
extern const std::string_view kGpt2SplitPattern;

// A GPT-2 style pre-tokenizer and decoder (ByteLevel), for vocab.json + merges.txt folders.
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space);
std::unique_ptr<Decoder> make_byte_level_decoder();

} // namespace hookscope
