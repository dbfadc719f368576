#include "bridge/session.h"

#include "bridge/errors.h"
#include "bridge/hook_point.h"
#include "bridge/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace hookscope {

namespace {

constexpr const char* kLogits = "hookscope.logits";

} // namespace

void save_session(const std::filesystem::path& path, const ActivationCache& cache, const ExportInfo& info,
                  const std::string& session_json) {
    NamedTensors tensors;
    for (const auto& [name, tensor] : cache.entries())
        tensors.emplace_back(name, tensor.to(at::kFloat));
    if (cache.logits().defined()) tensors.emplace_back(kLogits, cache.logits().to(at::kFloat));
    auto metadata = export_metadata(cache, info, at::kFloat);
    metadata["session"] = session_json;
    write_safetensors(path, tensors, metadata);
}

Session load_session(const std::filesystem::path& path) {
    const std::string where = path.string();
    const auto fail = [&](const std::string& why) { throw SessionError(where + ": " + why); };
    std::shared_ptr<const SafetensorsFile> file;
    try {
        file = SafetensorsFile::open(path);
    } catch (const Error& e) {
        throw SessionError(e.what());
    }
    const auto& m = file->metadata();
    const auto field = [&](const char* key) -> const std::string& {
        const auto it = m.find(key);
        if (it == m.end()) fail(std::string("not a HookScope session (no `") + key + "` in its metadata)");
        return it->second;
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

    Session s;
    std::vector<int64_t> tokens = ids.get<std::vector<int64_t>>();
    const auto positions = static_cast<int64_t>(tokens.size());
    s.cache = ActivationCache(std::move(tokens), m.count("names_filter") ? m.at("names_filter") : "");
    int64_t heads = -1;                           // every attention pattern and score tensor must agree
    for (const TensorInfo& t : file->tensors()) { // in the order they were captured
        at::Tensor value = file->tensor(t.name);
        const std::string what = "tensor `" + t.name + "` " + shape_text(value.sizes());
        if (!at::isFloatingType(value.scalar_type())) fail(what + " is not floating-point");
        if (value.dim() < 3 || value.dim() > 4 || value.size(0) != 1) {
            fail(what + " is not a hook activation ([1, pos, ...] or [1, heads, pos, pos])");
        }
        const bool square = is_attention_matrix(t.name);
        if (square) {
            if (value.dim() != 4 || value.size(2) != positions || value.size(3) != positions) {
                fail(what + " is not [1, heads, " + std::to_string(positions) + ", " + std::to_string(positions) +
                     "] for the session's " + std::to_string(positions) + " tokens");
            }
            if (heads >= 0 && value.size(1) != heads) {
                fail(what + " has " + std::to_string(value.size(1)) + " heads, other layers " + std::to_string(heads));
            }
            heads = value.size(1);
        } else if (value.size(1) != positions) {
            fail(what + " covers " + std::to_string(value.size(1)) + " positions, but the session has " +
                 std::to_string(positions) + " tokens");
        }
        if (t.name == kLogits) {
            if (value.dim() != 3) fail(what + " is not [1, pos, vocab]");
            s.cache.set_logits(std::move(value));
        } else {
            s.cache.add(t.name, std::move(value));
        }
    }
    s.info.model = field("model");
    s.info.model_fingerprint = m.count("model_fingerprint") ? m.at("model_fingerprint") : "";
    s.info.token_strings = strings.get<std::vector<std::string>>();
    try {
        s.info.prompt_length = std::stoll(field("prompt_length"));
    } catch (const std::exception&) {
        fail("`prompt_length` is not a number");
    }
    if (s.info.prompt_length < 0 || s.info.prompt_length > positions) fail("`prompt_length` is out of range");
    s.info.generation_json = m.count("generation") ? m.at("generation") : "{}";
    s.info.compute_dtype = m.count("compute_dtype") ? m.at("compute_dtype") : "float32";
    s.session_json = session.dump();
    return s;
}

} // namespace hookscope
