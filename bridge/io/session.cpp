#include "bridge/io/session.h"

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"
#include "bridge/formats/session_layout.h"
#include "bridge/model/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace hookscope {

void save_session(const std::filesystem::path& path, const ActivationCache& cache, const ExportInfo& info,
                  const std::string& session_json) {
    NamedTensors tensors;
    for (const auto& [name, tensor] : cache.entries())
        tensors.emplace_back(name, tensor.to(at::kFloat));
    if (cache.logits().defined()) tensors.emplace_back(kSessionLogits, cache.logits().to(at::kFloat));
    auto metadata = export_metadata(cache, info, at::kFloat);
    metadata["session"] = session_json;
    write_safetensors(path, tensors, metadata);
}

bool is_session_file(const std::filesystem::path& path) {
    try {
        return SafetensorsFile::open(path)->metadata().count("session") > 0;
    } catch (const Error&) {
        return false;
    }
}

Session load_session(const std::filesystem::path& path) {
    const std::string where = path.string();
    std::shared_ptr<const SafetensorsFile> file;
    try {
        file = SafetensorsFile::open(path);
    } catch (const Error& e) {
        throw SessionError(e.what());
    }
    const SessionLayout layout = check_session_layout(file->tensors(), file->metadata(), where);
    Session s;
    s.cache = ActivationCache(layout.tokens, layout.names_filter);
    for (const TensorInfo& t : file->tensors()) { // in the order they were captured
        if (t.name == kSessionLogits) {
            s.cache.set_logits(file->tensor(t.name));
        } else {
            s.cache.add(t.name, file->tensor(t.name));
        }
    }
    s.info = {.model = layout.model,
              .model_fingerprint = layout.model_fingerprint,
              .token_strings = layout.token_strings,
              .prompt_length = layout.prompt_length,
              .generation_json = layout.generation_json,
              .compute_dtype = layout.compute_dtype};
    s.session_json = layout.session_json;
    return s;
}

} // namespace hookscope
