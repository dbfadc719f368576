#include "bridge/io/recorded_interventions.h"

#include "bridge/core/errors.h"
#include "bridge/io/npz.h"
#include "bridge/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <optional>

namespace hookscope {

RecordedInterventions recorded_interventions(const std::filesystem::path& path) {
    std::optional<std::string> recorded;
    if (path.extension() == ".npz") {
        const NpzContents npz = read_npz(path);
        if (npz.metadata_json) {
            const auto metadata = nlohmann::json::parse(*npz.metadata_json, nullptr, /*allow_exceptions=*/false);
            if (metadata.is_object() && metadata.contains("interventions") && metadata["interventions"].is_string())
                recorded = metadata["interventions"].get<std::string>();
        }
    } else {
        try {
            const auto metadata = SafetensorsFile::open(path)->metadata();
            if (const auto it = metadata.find("interventions"); it != metadata.end()) recorded = it->second;
        } catch (const Error& e) {
            throw SessionError(e.what());
        }
    }
    RecordedInterventions out;
    if (!recorded) return out;
    // A list of {"spec": TEXT, "files": {...}}; anything else records nothing usable.
    const auto list = nlohmann::json::parse(*recorded, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array()) return out;
    for (const auto& item : list) {
        if (item.is_object() && item.contains("spec") && item["spec"].is_string())
            out.specs.push_back(item["spec"].get<std::string>());
    }
    out.json = *recorded;
    return out;
}

} // namespace hookscope
