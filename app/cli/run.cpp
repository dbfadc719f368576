// `run`: one forward pass over a prompt, the hook points it records exported to a file.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/io/export.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec run_options() {
    return spec({"--no-prepend-bos"},
                {"--model", "--tokens", "--prompt", "--names-filter", "--export", "--cache-limit"}, 0, {"--intervene"});
}

int run_command(const Options& options) {
    const Precision precision = apply_common(options);
    const auto export_path = options.value("--export");
    if (!export_path) throw UsageError("`run` needs --export FILE");
    const NamesFilter filter(options.value("--names-filter").value_or(""));

    const std::filesystem::path folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const std::vector<int64_t>& tokens = input.tokens;
    const auto model = load_model(folder, precision);
    const auto positions = static_cast<int64_t>(tokens.size());
    Interventions interventions = intervention_options(options, *model, positions, positions);
    require_cache_fits(*model, filter, positions, options);
    const ActivationCache cache = model->run_with_cache(tokens, filter, c10::kCPU, &interventions);

    json settings{{"mode", "run"}, {"input", options.value("--prompt") ? "prompt" : "tokens"}};
    if (options.value("--prompt")) settings["prepend_bos"] = !options.flag("--no-prepend-bos");
    ExportInfo info = export_info(folder, *model, input.codec, tokens, positions, settings.dump());
    info.interventions_json = interventions_json(interventions);
    export_cache(cache, *export_path, info);
    std::cout << "captured " << cache.size() << " hook points over " << tokens.size() << " positions ("
              << cache.total_bytes() << " bytes, computed in " << precision_name(precision) << ") into " << *export_path
              << "\n";
    return kOk;
}

} // namespace hookscope::cli
