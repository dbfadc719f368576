#pragma once
// Which ids a text prompt becomes (the text without the tokenizer's template, then BOS
// unless turned off; token ids are fed as given), and where a checkpoint folder says
// its BOS and EOS tokens are.

#include "bridge/text/tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

struct SpecialTokens {
    std::optional<int64_t> bos; // prepended to text prompts unless turned off
    std::string bos_source;     // where it came from, e.g. "tokenizer_config.json bos_token"
    std::vector<int64_t> eos;   // tokens that end generation
};

// BOS from tokenizer_config.json (`bos_token`), special_tokens_map.json, config.json
// (`bos_token_id`), else the first EOS id. EOS from generation_config.json, config.json
// (`eos_token_id`, a number or a list), else the tokenizer's `eos_token`. `tokenizer`
// (may be null) turns token strings into ids. Throws CheckpointError for a file that
// names a token the tokenizer does not have.
SpecialTokens read_special_tokens(const std::filesystem::path& folder, const Tokenizer* tokenizer);

// The text encoded with no special-token template, with BOS first when asked and the
// model has one. Empty text without BOS gives no ids, as Hugging Face's tokenizers do.
std::vector<int64_t> encode_text(const Tokenizer& tokenizer, const SpecialTokens& special, std::string_view text,
                                 bool prepend_bos);

// encode_text for running a model, which needs at least one token: throws InputError
// for an empty prompt with nothing to prepend.
std::vector<int64_t> encode_prompt(const Tokenizer& tokenizer, const SpecialTokens& special, std::string_view text,
                                   bool prepend_bos);

} // namespace hookscope
