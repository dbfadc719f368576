// `generate`: generation after a prompt, streamed to stdout, optionally with the hook
// points of prompt + output exported.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"

#include "bridge/core/cache_budget.h"
#include "bridge/core/system_memory.h"
#include "bridge/dist/pipeline.h"
#include "bridge/io/export.h"
#include "bridge/model/generate.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <iostream>

namespace hookscope::cli {
namespace {

using nlohmann::json;

SamplingSettings sampling_settings(const Options& options) {
    SamplingSettings s;
    const bool sampling_option = options.value("--temperature") || options.value("--top-k") || options.value("--top-p");
    if (options.flag("--greedy") && sampling_option) {
        throw UsageError("--greedy cannot be combined with --temperature, --top-k or --top-p");
    }
    s.do_sample = !options.flag("--greedy");
    s.temperature = options.number("--temperature").value_or(1.0);
    if (const auto k = options.positive_int("--top-k")) s.top_k = *k;
    s.top_p = options.number("--top-p");
    s.repetition_penalty = options.number("--repetition-penalty").value_or(1.0);
    s.freq_penalty = options.number("--freq-penalty").value_or(0.0);
    return s;
}

int generate_on(GenerateSteps& steps, const Model& model, const Options& options, GenerateOptions& o,
                const std::filesystem::path& folder, const PromptInput& input, Precision precision,
                const std::function<void()>& generated = {});

} // namespace

OptionSpec generate_options() {
    std::set<std::string> values{"--model",
                                 "--tokens",
                                 "--prompt",
                                 "--names-filter",
                                 "--export",
                                 "--max-new-tokens",
                                 "--temperature",
                                 "--top-k",
                                 "--top-p",
                                 "--seed",
                                 "--repetition-penalty",
                                 "--freq-penalty",
                                 "--cache-limit"};
    values.insert(launch_flags().begin(), launch_flags().end());
    return spec({"--json", "--no-prepend-bos", "--greedy", "--pipeline"}, values, 0, {"--stop", "--intervene"});
}

int generate_command(const Options& options) {
    const Precision precision = apply_common(options);
    GenerateOptions o;
    o.sampling = sampling_settings(options);
    o.max_new_tokens = static_cast<int64_t>(options.unsigned_int("--max-new-tokens").value_or(10));
    o.seed = options.unsigned_int("--seed");
    o.stop_strings = options.values("--stop");
    const auto export_path = options.value("--export");
    o.return_cache = export_path.has_value();
    o.names_filter = NamesFilter(options.value("--names-filter").value_or(""));

    const std::optional<LaunchConfig> launch = pipeline_launch(options);

    const std::filesystem::path folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    o.eos_ids = input.codec ? input.codec->special.eos : read_special_tokens(folder, nullptr).eos;
    const auto prompt_length = static_cast<int64_t>(input.tokens.size());
    if (!launch) {
        const auto model = load_model(folder, precision);
        const int64_t longest = planned_positions(prompt_length, o.max_new_tokens, model->config().n_ctx);
        o.interventions = intervention_options(options, *model, prompt_length, longest);
        ModelSteps steps(*model, o.interventions);
        return generate_on(steps, *model, options, o, folder, input, precision);
    }
    return run_as_rank(options, *launch, "generate", [&](ProcessGroup& group) {
        const uint64_t before_load = resident_bytes().value_or(0);
        const auto stage = load_pipeline_stage(folder, precision, *launch);
        const int64_t longest = planned_positions(prompt_length, o.max_new_tokens, stage->config().n_ctx);
        o.interventions = intervention_options(options, *stage, prompt_length, longest);
        Pipeline pipeline(group, *stage, o.interventions);
        int code = kOk;
        if (group.rank() == 0) {
            code = generate_on(pipeline, *stage, options, o, folder, input, precision, [&] { pipeline.finish(); });
        } else {
            pipeline.serve();
        }
        report_memory(group.rank(), before_load, *stage);
        return code;
    });
}

namespace {

// The generation through `steps` (the whole `model`, or rank 0's stage of it), streamed,
// exported and summed up. `generated` runs once the steps are done, before anything is
// written: a pipeline's rank 0 ends the other ranks there, so a rank lost at the end
// still leaves no export.
int generate_on(GenerateSteps& steps, const Model& model, const Options& options, GenerateOptions& o,
                const std::filesystem::path& folder, const PromptInput& input, Precision precision,
                const std::function<void()>& generated) {
    const Tokenizer* tokenizer = input.codec ? &input.codec->tokenizer : nullptr;
    const auto export_path = options.value("--export");
    const auto prompt_length = static_cast<int64_t>(input.tokens.size());
    const int64_t longest = planned_positions(prompt_length, o.max_new_tokens, model.config().n_ctx);
    if (o.return_cache) require_cache_fits(model, o.names_filter, longest, options);

    const bool as_json = options.flag("--json");
    GenerateCallbacks callbacks;
    if (!as_json) {
        callbacks.on_token = [&](const TokenEvent& event) {
            if (tokenizer) {
                std::cout << event.piece;
            } else {
                std::cout << (event.step ? " " : "") << event.id;
            }
            std::cout.flush();
        };
    }
    const GenerateResult result = generate(steps, input.tokens, o, callbacks, tokenizer);
    if (generated) generated();

    std::vector<std::string> cache_keys;
    if (result.cache) {
        ExportInfo info = export_info(folder, model, input.codec, result.tokens, result.prompt_length,
                                      generation_settings_json(o, result.seed));
        info.interventions_json = interventions_json(o.interventions);
        export_cache(*result.cache, *export_path, info);
        cache_keys = result.cache->names();
    }
    const auto optional_number = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
    if (as_json) {
        json logprobs = json::array();
        for (const NewToken& t : result.generated) {
            json top = json::array();
            for (const auto& [id, logprob] : t.top)
                top.push_back({{"id", id}, {"logprob", logprob}});
            logprobs.push_back({{"id", t.id}, {"logprob", t.logprob}, {"top", top}});
        }
        json out{{"tokens", result.tokens},
                 {"prompt_tokens", result.prompt_length},
                 {"new_tokens", result.generated.size()},
                 {"text", result.text},
                 {"stop_reason", stop_reason_name(result.stop_reason)},
                 {"seed", result.seed ? json(*result.seed) : json(nullptr)},
                 {"tokens_per_second", optional_number(result.tokens_per_second)},
                 {"timings",
                  {{"prompt_s", result.prompt_s}, {"decode_s", result.decode_s}, {"recompute_s", result.recompute_s}}},
                 {"logprobs", logprobs},
                 {"dtype", std::string(precision_name(precision))}};
        if (result.cache) out["cache_keys"] = cache_keys;
        std::cout << out.dump() << "\n";
        return kOk;
    }
    std::cout << std::endl; // before the summary on stderr
    std::cerr << "[" << result.generated.size() << " new tokens, stop: " << stop_reason_name(result.stop_reason);
    if (result.tokens_per_second) std::cerr << ", " << static_cast<int>(*result.tokens_per_second + 0.5) << " tokens/s";
    if (result.seed) std::cerr << ", seed " << *result.seed;
    if (precision != Precision::Float32) std::cerr << ", computed in " << precision_name(precision);
    if (result.cache) std::cerr << ", " << result.cache->size() << " hook points exported to " << *export_path;
    std::cerr << "]\n";
    return kOk;
}

} // namespace

} // namespace hookscope::cli
