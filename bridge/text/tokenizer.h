#pragma once
// Text to token ids and back, exactly as the checkpoint's Hugging Face tokenizer does it:
// tokenizer.json with a BPE model (byte-level like GPT-2, Llama-3 and Qwen2, or
// SentencePiece-style with byte fallback like Llama-2), or GPT-2's vocab.json +
// merges.txt. The post-processor template is never applied: BOS is the caller's
// choice (see prompt.h).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class Tokenizer {
public:
    // Whether `folder` holds tokenizer.json, or vocab.json and merges.txt.
    static bool present_in(const std::filesystem::path& folder);
    // Throws CheckpointError naming the file and the problem.
    static Tokenizer load(const std::filesystem::path& folder);
    // tokenizer.json text; `origin` names it in errors.
    static Tokenizer from_json(std::string_view json_text, const std::string& origin);

    // Ids for `text`, with no special-token template. Special tokens written in the
    // text ("<|endoftext|>") become their ids. Throws InputError for invalid UTF-8.
    std::vector<int64_t> encode(std::string_view text) const;

    // The text of `ids`, as valid UTF-8 (bytes that do not form UTF-8 become U+FFFD).
    // Ids the tokenizer does not have (a model's padded vocabulary) are skipped, as
    // Hugging Face does.
    std::string decode(std::span<const int64_t> ids) const;

    // The bytes one token stands for, without any stripping a whole text would get
    // (so "▁the" and "Ġthe" give " the"). May be part of a UTF-8 character. Empty for
    // an id the tokenizer does not have.
    std::string token_bytes(int64_t id) const;

    // A legible form of one token for axis labels and tooltips (see visible_text);
    // "[id]" for an id the tokenizer does not have.
    std::string display(int64_t id) const;

    std::optional<int64_t> token_to_id(std::string_view token) const;
    // The token's text as the vocabulary writes it ("Ġthe"), or nullopt.
    std::optional<std::string> id_to_token(int64_t id) const;
    // One past the largest id (added tokens included).
    int64_t vocab_size() const;
    bool is_special(int64_t id) const;
    const std::string& origin() const;

    struct Impl;

private:
    explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

// Bytes made legible: spaces as "␣", newline, tab and carriage return as "\n", "\t",
// "\r", other control characters and bytes that are not valid UTF-8 as "<0xNN>".
std::string visible_text(std::string_view bytes);

} // namespace hookscope
