// `hooks`: the hook points of a model, from its config alone (no weights loaded).

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/model_config.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/shape_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec hooks_options() {
    return spec({"--json"}, {"--model", "--names-filter"});
}

int hooks_command(const Options& options) {
    apply_common(options);
    const ModelConfig config = load_model_config(model_folder(options));
    const NamesFilter filter(options.value("--names-filter").value_or(""));
    json hooks = json::array();
    for (const HookInfo& info : hook_points_for(config)) {
        if (filter.matches(info.name)) hooks.push_back({{"name", info.name}, {"shape", shape_json(info)}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"hooks", hooks}}.dump() << "\n";
        return kOk;
    }
    std::size_t width = 0;
    for (const auto& h : hooks)
        width = std::max(width, h["name"].get<std::string>().size());
    for (const auto& h : hooks) {
        const std::string name = h["name"].get<std::string>();
        std::cout << name << std::string(width - name.size() + 2, ' ') << json_shape_text(h["shape"]) << "\n";
    }
    return kOk;
}

} // namespace hookscope::cli
