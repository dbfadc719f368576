#include "bridge/io/dataset_tokens.h"

#include "bridge/core/errors.h"

namespace hookscope {

DatasetPromptTokens dataset_prompt_tokens(const std::filesystem::path& file, const Tokenizer* tokenizer,
                                          const SpecialTokens& special, bool prepend_bos, int64_t d_vocab,
                                          int64_t max_positions) {
    DatasetPromptTokens prompts;
    for (const PromptLine& line : read_prompt_file(file)) {
        const std::string where = prompt_where(file, line.line);
        std::vector<int64_t> ids = line.tokens;
        if (line.text) {
            if (!tokenizer) {
                throw InputError(where + ": the model has no tokenizer (tokenizer.json, or vocab.json and "
                                         "merges.txt), so it cannot read text; give {\"tokens\": [...]} lines instead");
            }
            try {
                ids = encode_prompt(*tokenizer, special, *line.text, prepend_bos);
            } catch (const Error& e) {
                throw InputError(where + ": " + e.what());
            }
        }
        for (const int64_t id : ids) {
            if (id >= d_vocab) {
                throw InputError(where + ": token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                 std::to_string(d_vocab - 1) + ")");
            }
        }
        if (static_cast<int64_t>(ids.size()) > max_positions) {
            ids.resize(static_cast<std::size_t>(max_positions));
            ++prompts.cut;
        }
        prompts.tokens.push_back(std::move(ids));
        prompts.places.push_back(where);
    }
    return prompts;
}

} // namespace hookscope
