#include "bridge/text/prompt.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"

#include <nlohmann/json.hpp>

namespace hookscope {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const json* field(const std::optional<json>& j, const char* key) {
    if (!j || !j->is_object()) return nullptr;
    const auto it = j->find(key);
    return it == j->end() || it->is_null() ? nullptr : &*it;
}

// A token written as "<s>" or {"content": "<s>", ...}, as its id.
std::optional<int64_t> token_id(const json* value, const Tokenizer* tokenizer, const std::string& where) {
    if (!value || !tokenizer) return std::nullopt;
    std::string content;
    if (value->is_string()) {
        content = value->get<std::string>();
    } else if (value->is_object() && value->contains("content") && (*value)["content"].is_string()) {
        content = (*value)["content"].get<std::string>();
    } else {
        throw CheckpointError(where + " must be a token string, got " + value->dump());
    }
    if (const auto id = tokenizer->token_to_id(content)) return id;
    throw CheckpointError(where + " is `" + content + "`, which is not in the tokenizer's vocabulary");
}

// A number or a list of numbers.
std::vector<int64_t> id_list(const json* value, const std::string& where) {
    if (!value) return {};
    std::vector<int64_t> ids;
    const auto add = [&](const json& v) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0) {
            throw CheckpointError(where + " must be a token id or a list of them, got " + value->dump());
        }
        ids.push_back(v.get<int64_t>());
    };
    if (value->is_array()) {
        for (const json& v : *value)
            add(v);
    } else {
        add(*value);
    }
    return ids;
}

} // namespace

SpecialTokens read_special_tokens(const fs::path& folder, const Tokenizer* tokenizer) {
    const auto tokenizer_config = read_json_file_if_present(folder / "tokenizer_config.json");
    const auto special_map = read_json_file_if_present(folder / "special_tokens_map.json");
    const auto config = read_json_file_if_present(folder / "config.json");
    const auto generation_config = read_json_file_if_present(folder / "generation_config.json");

    SpecialTokens special;
    special.eos = id_list(field(generation_config, "eos_token_id"), "generation_config.json `eos_token_id`");
    if (special.eos.empty()) special.eos = id_list(field(config, "eos_token_id"), "config.json `eos_token_id`");
    if (special.eos.empty()) {
        for (const auto& [file, j] : {std::pair{"tokenizer_config.json", &tokenizer_config},
                                      std::pair{"special_tokens_map.json", &special_map}}) {
            if (const auto id = token_id(field(*j, "eos_token"), tokenizer, std::string(file) + " `eos_token`")) {
                special.eos.push_back(*id);
                break;
            }
        }
    }

    const auto set_bos = [&](std::optional<int64_t> id, const char* source) {
        if (id && !special.bos) {
            special.bos = id;
            special.bos_source = source;
        }
    };
    set_bos(token_id(field(tokenizer_config, "bos_token"), tokenizer, "tokenizer_config.json `bos_token`"),
            "tokenizer_config.json bos_token");
    set_bos(token_id(field(special_map, "bos_token"), tokenizer, "special_tokens_map.json `bos_token`"),
            "special_tokens_map.json bos_token");
    if (const auto ids = id_list(field(config, "bos_token_id"), "config.json `bos_token_id`"); ids.size() == 1) {
        set_bos(ids.front(), "config.json bos_token_id");
    }
    if (!special.eos.empty()) set_bos(special.eos.front(), "the EOS token");
    return special;
}

std::vector<int64_t> encode_text(const Tokenizer& tokenizer, const SpecialTokens& special, std::string_view text,
                                 bool prepend_bos) {
    std::vector<int64_t> ids;
    if (prepend_bos && special.bos) ids.push_back(*special.bos);
    const std::vector<int64_t> text_ids = tokenizer.encode(text);
    ids.insert(ids.end(), text_ids.begin(), text_ids.end());
    return ids;
}

std::vector<int64_t> encode_prompt(const Tokenizer& tokenizer, const SpecialTokens& special, std::string_view text,
                                   bool prepend_bos) {
    std::vector<int64_t> ids = encode_text(tokenizer, special, text, prepend_bos);
    if (ids.empty()) {
        throw InputError(prepend_bos ? "the prompt is empty and this model has no BOS token to start from"
                                     : "the prompt is empty: type some text or turn BOS on");
    }
    return ids;
}

} // namespace hookscope
