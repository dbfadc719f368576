// `run`: one forward pass over a prompt, the hook points it records exported to a file;
// with --pipeline, the model's blocks split over several processes.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/core/system_memory.h"
#include "bridge/dist/pipeline.h"
#include "bridge/io/export.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

namespace {

// The export of a run and the line that says what it holds.
void write_run(const Options& options, const std::filesystem::path& folder, const PromptInput& input,
               const Model& model, const Interventions& interventions, const ActivationCache& cache,
               Precision precision) {
    const std::string export_path = *options.value("--export");
    const std::vector<int64_t>& tokens = input.tokens;
    json settings{{"mode", "run"}, {"input", options.value("--prompt") ? "prompt" : "tokens"}};
    if (options.value("--prompt")) settings["prepend_bos"] = !options.flag("--no-prepend-bos");
    ExportInfo info =
        export_info(folder, model, input.codec, tokens, static_cast<int64_t>(tokens.size()), settings.dump());
    info.interventions_json = interventions_json(interventions);
    export_cache(cache, export_path, info);
    std::cout << "captured " << cache.size() << " hook points over " << tokens.size() << " positions ("
              << cache.total_bytes() << " bytes, computed in " << precision_name(precision) << ") into " << export_path
              << "\n";
}

} // namespace

OptionSpec run_options() {
    std::set<std::string> values{"--model", "--tokens", "--prompt", "--names-filter", "--export", "--cache-limit"};
    values.insert(launch_flags().begin(), launch_flags().end());
    return spec({"--no-prepend-bos", "--pipeline"}, values, 0, {"--intervene"});
}

int run_command(const Options& options) {
    const Precision precision = apply_common(options);
    if (!options.value("--export")) throw UsageError("`run` needs --export FILE");
    const NamesFilter filter(options.value("--names-filter").value_or(""));
    const std::optional<LaunchConfig> launch = pipeline_launch(options);

    const std::filesystem::path folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const std::vector<int64_t>& tokens = input.tokens;
    const auto positions = static_cast<int64_t>(tokens.size());
    if (!launch) {
        const auto model = load_model(folder, precision);
        Interventions interventions = intervention_options(options, *model, positions, positions);
        require_cache_fits(*model, filter, positions, options);
        const ActivationCache cache = model->run_with_cache(tokens, filter, c10::kCPU, &interventions);
        write_run(options, folder, input, *model, interventions, cache, precision);
        return kOk;
    }
    return run_as_rank(options, *launch, "run", [&](ProcessGroup& group) {
        const uint64_t before_load = resident_bytes().value_or(0);
        const auto stage = load_pipeline_stage(folder, precision, *launch);
        const Interventions interventions = intervention_options(options, *stage, positions, positions);
        Pipeline pipeline(group, *stage, interventions);
        if (group.rank() == 0) {
            require_cache_fits(*stage, filter, positions, options);
            const ActivationCache cache = pipeline.run_with_cache(tokens, filter);
            pipeline.finish(); // every rank done before the export is written
            write_run(options, folder, input, *stage, interventions, cache, precision);
        } else {
            pipeline.serve();
        }
        report_memory(group.rank(), before_load, *stage);
        return kOk;
    });
}

} // namespace hookscope::cli
