// `models`: the models in the local Hugging Face cache.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/formats/hub_cache.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec models_options() {
    return spec({"--json"}, {});
}

int models_command(const Options& options) {
    const std::vector<CachedModel> models = list_cached_models();
    if (options.flag("--json")) {
        json list = json::array();
        for (const CachedModel& m : models) {
            list.push_back({{"id", m.id},
                            {"folder", m.folder.string()},
                            {"architecture", m.architecture.empty() ? json(nullptr) : json(m.architecture)},
                            {"bytes", m.bytes}});
        }
        std::cout << json{{"models", list}}.dump() << "\n";
        return kOk;
    }
    if (models.empty()) {
        std::cout << "no models in the local Hugging Face cache\n";
        return kOk;
    }
    for (const CachedModel& m : models) {
        std::cout << m.id << "  " << (m.architecture.empty() ? "(not runnable)" : m.architecture) << "  "
                  << (m.bytes + 500'000) / 1'000'000 << " MB  " << m.folder.string() << "\n";
    }
    return kOk;
}

} // namespace hookscope::cli
