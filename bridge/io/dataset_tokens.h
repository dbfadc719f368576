#pragma once
// The prompts of a dataset's prompts file (dataset_prompts.h) as the token ids a
// collect feeds: text encoded with the model's tokenizer (BOS as asked), ids as given,
// every id checked against the vocabulary, each prompt cut to the maximum positions.

#include "bridge/io/dataset_prompts.h"
#include "bridge/text/prompt.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hookscope {

struct DatasetPromptTokens {
    std::vector<std::vector<int64_t>> tokens; // as fed, cut to the maximum positions
    std::vector<std::string> places;          // each prompt's "FILE:LINE", for messages
    int64_t cut = 0;                          // prompts longer than the maximum positions
};

// Every prompt of `file` (read_prompt_file) as token ids. `tokenizer` may be null when
// the model has none: a text line is then refused. Throws InputError naming the file
// and line of a prompt that cannot be encoded or holds an id outside 0..d_vocab - 1.
DatasetPromptTokens dataset_prompt_tokens(const std::filesystem::path& file, const Tokenizer* tokenizer,
                                          const SpecialTokens& special, bool prepend_bos, int64_t d_vocab,
                                          int64_t max_positions);

} // namespace hookscope
