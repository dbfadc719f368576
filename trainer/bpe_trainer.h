#pragma once
// Training a byte-level BPE vocabulary (GPT-2's scheme) on a corpus, and writing it as
// the files Hugging Face reads: tokenizer.json, and vocab.json + merges.txt.
//
// The corpus is split with GPT-2's pre-tokenizer; every piece starts as its bytes (256
// byte tokens). Each step merges the most frequent adjacent pair over all pieces
// (ties: the pair whose left, then right, token is smaller byte-wise), until the
// vocabulary holds `vocab_size` tokens including the special tokens, which come last.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookscope {

struct BpeVocabulary {
    std::vector<std::string> tokens;                         // by id, byte-level strings
    std::vector<std::pair<std::string, std::string>> merges; // in rank order
    std::vector<std::string> special_tokens;                 // the last ids
};

// Throws InputError when `vocab_size` cannot hold the 256 byte tokens and the specials.
// Stops early when no pair occurs twice.
BpeVocabulary train_byte_level_bpe(std::string_view corpus, int64_t vocab_size,
                                   const std::vector<std::string>& special_tokens);

// Writes tokenizer.json (GPT-2's ByteLevel pipeline), vocab.json, merges.txt and
// tokenizer_config.json (the first special token as BOS, EOS and UNK) into `folder`.
// Each write is atomic. Throws ExportError.
void write_bpe_tokenizer(const std::filesystem::path& folder, const BpeVocabulary& vocabulary,
                         int64_t model_max_length);

} // namespace hookscope
