#include "app/cli/common.h"

#include "app/cli/commands.h"

#include "bridge/analysis/analysis.h"
#include "bridge/core/cache_budget.h"
#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/system_memory.h"
#include "bridge/core/token_ids.h"
#include "bridge/formats/hub_cache.h"
#include "bridge/model/threads.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <iostream>

namespace hookscope::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::set<std::string> kCommonValues{"--dtype", "--threads"};

} // namespace

OptionSpec spec(std::set<std::string> flags, std::set<std::string> values, int positionals,
                std::set<std::string> repeated) {
    values.insert(kCommonValues.begin(), kCommonValues.end());
    return {std::move(flags), std::move(values), std::move(repeated), positionals};
}

Precision apply_common(const Options& options) {
    const std::string dtype = options.value("--dtype").value_or("float32");
    const auto precision = parse_precision(dtype);
    if (!precision) throw UsageError("--dtype must be float32 or bfloat16, got `" + dtype + "`");
    apply_thread_split(default_thread_split(options.positive_int("--threads").value_or(0)));
    return *precision;
}

fs::path model_folder(const Options& options) {
    if (const auto model = options.value("--model")) return resolve_model_folder(*model);
    if (auto bundled = bundled_model()) return *bundled;
    throw Error("no model: the bundled default model (models/kjv-gpt2) was not found, so pass --model FOLDER "
                "(a Hugging Face checkpoint folder) or a hub id from the local cache");
}

std::unique_ptr<Model> load_model(const fs::path& folder, Precision precision) {
    auto model = Model::load(folder, precision);
    for (const std::string& warning : model->load_warnings())
        std::cerr << "hookscope: warning: " << warning << "\n";
    return model;
}

TextCodec load_text_codec(const fs::path& folder) {
    if (!Tokenizer::present_in(folder)) {
        throw Error(folder.string() +
                    " has no tokenizer (tokenizer.json, or vocab.json and merges.txt), so it cannot read "
                    "text; pass --tokens with token ids instead");
    }
    Tokenizer tokenizer = Tokenizer::load(folder);
    SpecialTokens special = read_special_tokens(folder, &tokenizer);
    return {std::move(tokenizer), std::move(special)};
}

PromptInput prompt_input(const Options& options, const fs::path& folder, const std::string& text_option,
                         const std::string& tokens_option) {
    const auto tokens = options.value(tokens_option);
    const auto prompt = options.value(text_option);
    if (tokens && prompt) throw UsageError("give either " + text_option + " or " + tokens_option + ", not both");
    if (!tokens && !prompt) throw UsageError("needs " + text_option + " TEXT or " + tokens_option + " IDS");
    PromptInput input;
    if (Tokenizer::present_in(folder)) input.codec = load_text_codec(folder);
    if (tokens) {
        try {
            input.tokens = parse_token_ids(*tokens);
        } catch (const InputError& e) {
            throw UsageError(e.what());
        }
        if (input.tokens.empty()) throw UsageError(tokens_option + " has no token ids");
        return input;
    }
    if (!input.codec) input.codec = load_text_codec(folder); // says why text cannot be read
    input.tokens =
        encode_prompt(input.codec->tokenizer, input.codec->special, *prompt, !options.flag("--no-prepend-bos"));
    return input;
}

std::string token_text(const std::optional<TextCodec>& codec, int64_t id) {
    return codec ? codec->tokenizer.display(id) : std::to_string(id);
}

Interventions intervention_options(const Options& options, const Model& model, int64_t first_pass_length,
                                   int64_t max_positions) {
    InterventionContext context;
    context.base = std::filesystem::current_path();
    context.first_pass_length = first_pass_length;
    context.max_positions = max_positions;
    return load_interventions(options.values("--intervene"), model, context);
}

void require_cache_fits(const Model& model, const NamesFilter& filter, int64_t positions, const Options& options) {
    const auto too_large = check_cache_size(model.hook_points(), filter, positions, cache_limit(options));
    if (!too_large) return;
    std::string text = too_large->describe() + ". Capture fewer hook points with --names-filter";
    for (std::size_t k = 0; k < too_large->suggestions.size(); ++k) {
        const FilterSuggestion& s = too_large->suggestions[k];
        text += (k == 0                                   ? ", for example '"
                 : k + 1 == too_large->suggestions.size() ? " or '"
                                                          : ", '") +
                s.filter + "' (" + byte_size_text(static_cast<uint64_t>(s.bytes)) + ")";
    }
    throw InputError(text + "; or raise the limit with --cache-limit (a size such as 8G, or none)");
}

ExportInfo export_info(const fs::path& folder, const Model& model, const std::optional<TextCodec>& codec,
                       const std::vector<int64_t>& tokens, int64_t prompt_length, std::string settings) {
    return export_info_for(folder.string(), model.fingerprint(), codec ? &codec->tokenizer : nullptr, tokens,
                           prompt_length, std::move(settings), model.precision());
}

LaunchConfig launch_options(const Options& options) {
    LaunchFlags flags;
    flags.world_size = options.value("--world-size");
    flags.rank = options.value("--rank");
    flags.master = options.value("--master");
    flags.timeout = options.value("--dist-timeout");
    try {
        return launch_config(flags);
    } catch (const LaunchError& e) {
        throw UsageError(e.what());
    }
}

std::optional<LaunchConfig> pipeline_launch(const Options& options) {
    if (!options.flag("--pipeline")) {
        for (const std::string& flag : launch_flags()) {
            if (options.value(flag)) throw UsageError(flag + " runs a model over several processes: add --pipeline");
        }
        return std::nullopt;
    }
    LaunchConfig launch = launch_options(options);
    if (!launch.distributed()) return std::nullopt;
    return launch;
}

const std::set<std::string>& launch_flags() {
    static const std::set<std::string> flags{"--world-size", "--rank", "--master", "--dist-timeout"};
    return flags;
}

int run_as_rank(const Options& options, const LaunchConfig& launch, const std::string& command,
                const std::function<int(ProcessGroup&)>& body) {
    // The processes of one machine share its cores.
    if (!options.value("--threads") && launch.local_world_size > 1)
        apply_thread_split(default_thread_split(std::max(1, available_cores() / launch.local_world_size)));
    const std::string rank = std::to_string(launch.rank);
    std::cerr << command << ": rank " << rank << ": joining " << launch.world_size << " processes at "
              << launch.master_text() << "\n";
    ProcessGroup group(launch);
    try {
        return body(group);
    } catch (const GroupError& e) {
        throw GroupError("rank " + rank + " stopped: " + e.what());
    } catch (const UsageError& e) {
        group.report_failure(e.what());
        throw;
    } catch (const c10::Error& e) {
        const std::string what = e.what_without_backtrace();
        group.report_failure(what);
        throw Error("rank " + rank + ": " + what);
    } catch (const std::exception& e) {
        group.report_failure(e.what());
        throw Error("rank " + rank + ": " + e.what());
    }
}

std::unique_ptr<Model> load_pipeline_stage(const fs::path& folder, Precision precision, const LaunchConfig& launch) {
    const ModelConfig config = load_model_config(folder);
    std::vector<StageRange> stages;
    try {
        stages = split_stages(config.n_layers, launch.world_size);
    } catch (const InputError& e) {
        throw UsageError(std::string("--pipeline: ") + e.what());
    }
    auto model = Model::load(folder, precision, stages[static_cast<std::size_t>(launch.rank)]);
    for (const std::string& warning : model->load_warnings())
        std::cerr << "hookscope: warning: " << warning << "\n";
    return model;
}

void report_memory(int rank, uint64_t before_load, const Model& model) {
    const char* report = std::getenv("HOOKSCOPE_REPORT_MEMORY");
    if (!report || std::string(report) != "1") return;
    std::cerr << "rank " << rank << " memory: before_load " << before_load << " stage_weights " << model.weight_bytes()
              << " peak " << peak_resident_bytes().value_or(0) << "\n";
}

} // namespace hookscope::cli
