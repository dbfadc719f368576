#include "bridge/formats/session_layout.h"

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace hookscope {

SessionLayout check_session_layout(const std::vector<TensorInfo>& tensors, const std::map<std::string, std::string>& m,
                                   const std::string& where) {
    const auto fail = [&](const std::string& why) { throw SessionError(where + ": " + why); };
    const auto field = [&](const char* key) -> const std::string& {
        const auto it = m.find(key);
        if (it == m.end()) fail(std::string("not a HookScope session (no `") + key + "` in its metadata)");
        return it->second;
    };
    const auto optional = [&](const char* key, const char* otherwise) {
        const auto it = m.find(key);
        return it == m.end() ? std::string(otherwise) : it->second;
    };
    if (field("format") != "hookscope.activation_cache.v1") fail("unknown format `" + field("format") + "`");
    const auto parse = [&](const char* key) {
        auto j = nlohmann::json::parse(field(key), nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) fail(std::string("metadata `") + key + "` is not valid JSON");
        return j;
    };
    const nlohmann::json ids = parse("token_ids"), strings = parse("token_strings"), session = parse("session");
    if (!ids.is_array() || !std::all_of(ids.begin(), ids.end(), [](const auto& v) { return v.is_number_integer(); }))
        fail("`token_ids` is not a list of integers");
    if (!strings.is_array() || strings.size() != ids.size() ||
        !std::all_of(strings.begin(), strings.end(), [](const auto& v) { return v.is_string(); })) {
        fail("`token_strings` is not a list of strings, one per token of `token_ids`");
    }
    if (!session.is_object()) fail("`session` is not a JSON object");

    SessionLayout s;
    s.tokens = ids.get<std::vector<int64_t>>();
    const auto positions = static_cast<int64_t>(s.tokens.size());
    int64_t heads = -1; // every attention pattern and score tensor must agree
    for (const TensorInfo& t : tensors) {
        const std::vector<int64_t>& shape = t.shape;
        const std::string what = "tensor `" + t.name + "` " + dims_text(shape);
        if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16 && t.dtype != DType::F64) {
            fail(what + " is not floating-point");
        }
        if (shape.size() < 3 || shape.size() > 4 || shape[0] != 1) {
            fail(what + " is not a hook activation ([1, pos, ...] or [1, heads, pos, pos])");
        }
        if (is_attention_matrix(t.name)) {
            if (shape.size() != 4 || shape[2] != positions || shape[3] != positions) {
                fail(what + " is not [1, heads, " + std::to_string(positions) + ", " + std::to_string(positions) +
                     "] for the session's " + std::to_string(positions) + " tokens");
            }
            if (heads >= 0 && shape[1] != heads) {
                fail(what + " has " + std::to_string(shape[1]) + " heads, other layers " + std::to_string(heads));
            }
            heads = shape[1];
        } else if (shape[1] != positions) {
            fail(what + " covers " + std::to_string(shape[1]) + " positions, but the session has " +
                 std::to_string(positions) + " tokens");
        }
        if (t.name == kSessionLogits && shape.size() != 3) fail(what + " is not [1, pos, vocab]");
    }
    s.model = field("model");
    s.model_fingerprint = optional("model_fingerprint", "");
    s.names_filter = optional("names_filter", "");
    s.token_strings = strings.get<std::vector<std::string>>();
    try {
        std::size_t used = 0;
        s.prompt_length = std::stoll(field("prompt_length"), &used);
        if (used != field("prompt_length").size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
        fail("`prompt_length` is not a number");
    }
    if (s.prompt_length < 0 || s.prompt_length > positions) fail("`prompt_length` is out of range");
    s.generation_json = optional("generation", "{}");
    s.compute_dtype = optional("compute_dtype", "float32");
    s.session_json = session.dump();
    return s;
}

} // namespace hookscope
