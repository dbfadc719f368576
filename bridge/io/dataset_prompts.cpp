#include "bridge/io/dataset_prompts.h"

#include "bridge/core/errors.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace hookscope {

namespace {

bool blank(const std::string& line) {
    return line.find_first_not_of(" \t\r") == std::string::npos;
}

PromptLine json_prompt(const std::string& line, const std::string& where) {
    const auto value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) throw InputError(where + ": not a JSON value");
    if (!value.is_object()) throw InputError(where + ": expected an object with \"text\" or \"tokens\"");
    const bool has_text = value.contains("text"), has_tokens = value.contains("tokens");
    if (has_text == has_tokens) throw InputError(where + ": needs exactly one of \"text\" and \"tokens\"");
    PromptLine prompt;
    if (has_text) {
        if (!value["text"].is_string()) throw InputError(where + ": \"text\" must be a string");
        prompt.text = value["text"].get<std::string>();
        return prompt;
    }
    const auto& ids = value["tokens"];
    if (!ids.is_array() || ids.empty()) throw InputError(where + ": \"tokens\" must be a non-empty list of token ids");
    for (const auto& id : ids) {
        if (!id.is_number_unsigned()) throw InputError(where + ": token id " + id.dump() + " is not an integer >= 0");
        prompt.tokens.push_back(id.get<int64_t>());
    }
    return prompt;
}

} // namespace

std::string prompt_where(const std::filesystem::path& path, int line) {
    return path.string() + ":" + std::to_string(line);
}

std::vector<PromptLine> read_prompt_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError("cannot read the prompts file " + path.string());
    const bool jsonl = path.extension() == ".jsonl";
    std::vector<PromptLine> prompts;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (blank(line)) continue;
        if (jsonl) {
            prompts.push_back(json_prompt(line, prompt_where(path, number)));
        } else {
            if (line.back() == '\r') line.pop_back();
            prompts.push_back({.line = 0, .text = line, .tokens = {}});
        }
        prompts.back().line = number;
    }
    if (in.bad()) throw InputError("cannot read the prompts file " + path.string());
    if (prompts.empty()) throw InputError("the prompts file " + path.string() + " holds no prompt");
    return prompts;
}

} // namespace hookscope
