#include "bridge/io/export.h"

#include "bridge/core/errors.h"
#include "bridge/io/npz.h"
#include "bridge/text/tokenizer.h"
#include "bridge/text/unicode.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace hookscope {
namespace {

// NumPy-style dtype names, as Python users write them.
std::string dtype_label(at::ScalarType dtype) {
    switch (dtype) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kDouble: return "float64";
    default: return c10::toString(dtype);
    }
}

} // namespace

std::string token_text(const Tokenizer* tokenizer, int64_t id) {
    if (tokenizer && tokenizer->id_to_token(id)) return unicode::lossy_utf8(tokenizer->token_bytes(id));
    std::string text = "[";
    text += std::to_string(id);
    text += ']';
    return text;
}

ExportInfo export_info_for(std::string model, std::string fingerprint, const Tokenizer* tokenizer,
                           const std::vector<int64_t>& tokens, int64_t prompt_length, std::string settings_json,
                           Precision precision) {
    ExportInfo info;
    info.model = std::move(model);
    info.model_fingerprint = std::move(fingerprint);
    for (const int64_t id : tokens)
        info.token_strings.push_back(token_text(tokenizer, id));
    info.prompt_length = prompt_length;
    info.generation_json = std::move(settings_json);
    info.compute_dtype = std::string(precision_name(precision));
    return info;
}

std::map<std::string, std::string> export_metadata(const ActivationCache& cache, const ExportInfo& info,
                                                   at::ScalarType dtype) {
    const auto generation = nlohmann::json::parse(info.generation_json, nullptr, /*allow_exceptions=*/false);
    std::map<std::string, std::string> metadata{
        {"format", "hookscope.activation_cache.v1"},
        {"model", info.model},
        {"model_fingerprint", info.model_fingerprint},
        {"token_ids", nlohmann::json(cache.tokens()).dump()},
        // Token display strings may hold bytes that are not UTF-8 on their own: replace, never throw.
        {"token_strings",
         nlohmann::json(info.token_strings).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)},
        {"prompt_length", std::to_string(info.prompt_length)},
        {"names_filter", cache.names_filter()},
        {"generation", generation.is_object() ? generation.dump() : "{}"},
        {"dtype", dtype_label(dtype)},
        {"compute_dtype", info.compute_dtype},
    };
    if (info.interventions_json != "[]") metadata["interventions"] = info.interventions_json;
    return metadata;
}

void export_cache(const ActivationCache& cache, const std::filesystem::path& path, const ExportInfo& info,
                  const std::vector<std::string>& names, at::ScalarType dtype) {
    NamedTensors selected;
    if (names.empty()) {
        for (const auto& [name, tensor] : cache.entries())
            selected.emplace_back(name, tensor.to(dtype));
    } else {
        for (const auto& [name, tensor] : cache.entries()) {
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                selected.emplace_back(name, tensor.to(dtype));
            }
        }
        for (const std::string& name : names)
            (void)cache[name]; // NotCapturedError names what is missing
    }
    const auto metadata = export_metadata(cache, info, dtype);
    if (path.extension() == ".npz") {
        write_npz(path, selected,
                  nlohmann::json(metadata).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
        write_safetensors(path, selected, metadata);
    }
}

} // namespace hookscope
