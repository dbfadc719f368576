#pragma once
// What the sub-commands share: option specs, common settings, the model and prompt a
// command runs on, and the pieces of output more than one command writes.

#include "app/cli/options.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/precision.h"
#include "bridge/dist/launch_config.h"
#include "bridge/dist/process_group.h"
#include "bridge/io/export.h"
#include "bridge/io/intervention_files.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hookscope::cli {

// `flags`, `values` and `repeated` plus the options every command takes (--dtype,
// --threads).
OptionSpec spec(std::set<std::string> flags, std::set<std::string> values, int positionals = 0,
                std::set<std::string> repeated = {});

// Settings every command shares: thread counts and the compute dtype, returned.
Precision apply_common(const Options& options);

// --model (a folder or a hub id in the local cache), else the bundled default model
// (bundled_model()).
std::filesystem::path model_folder(const Options& options);

// Model::load, with what it found wrong but loadable told on stderr.
std::unique_ptr<Model> load_model(const std::filesystem::path& folder, Precision precision);

// The model's tokenizer and its BOS/EOS, for commands that take text.
struct TextCodec {
    Tokenizer tokenizer;
    SpecialTokens special;
};
TextCodec load_text_codec(const std::filesystem::path& folder);

// The ids a command runs on: --tokens as given, or --prompt through the tokenizer (or
// the options named so).
struct PromptInput {
    std::vector<int64_t> tokens;
    std::optional<TextCodec> codec;
};
PromptInput prompt_input(const Options& options, const std::filesystem::path& folder,
                         const std::string& text_option = "--prompt", const std::string& tokens_option = "--tokens");

// A token's legible form: the tokenizer's, else its id.
std::string token_text(const std::optional<TextCodec>& codec, int64_t id);

// The --intervene SPECs (in the order given), read and checked for a run whose first
// forward covers `first_pass_length` positions and which can reach `max_positions`;
// files resolve against the working directory. Throws InterventionError.
Interventions intervention_options(const Options& options, const Model& model, int64_t first_pass_length,
                                   int64_t max_positions);

// Refuses a recompute over `positions` whose cache would pass the limit (--cache-limit,
// else the default share of memory), before any work starts, naming filters that
// would fit.
void require_cache_fits(const Model& model, const NamesFilter& filter, int64_t positions, const Options& options);

// What an export records about the run: the model, its tokens and the settings.
ExportInfo export_info(const std::filesystem::path& folder, const Model& model, const std::optional<TextCodec>& codec,
                       const std::vector<int64_t>& tokens, int64_t prompt_length, std::string settings);

// The process's place in a run over several: the flags --world-size, --rank, --master
// and --dist-timeout, else torchrun's environment. Throws UsageError.
LaunchConfig launch_options(const Options& options);

// --pipeline's run over several processes, or nullopt for one process (no --pipeline,
// or a world size of 1). Throws UsageError for launch flags without --pipeline.
std::optional<LaunchConfig> pipeline_launch(const Options& options);

// The launch flags, for the specs of the commands that take them.
const std::set<std::string>& launch_flags();

// `body` as one rank of the run `launch` describes: the machine's cores shared between
// its ranks (unless --threads says otherwise), the process group joined, and a failure
// on this rank told to every other before it is thrown (a failure elsewhere ends this
// rank with GroupError naming it). `command` names the rank's lines on stderr.
int run_as_rank(const Options& options, const LaunchConfig& launch, const std::string& command,
                const std::function<int(ProcessGroup&)>& body);

// --pipeline: this rank's stage of the model in `folder` (split_stages over the world
// size), with what it found wrong but loadable told on stderr. Throws UsageError when
// there are more ranks than blocks.
std::unique_ptr<Model> load_pipeline_stage(const std::filesystem::path& folder, Precision precision,
                                           const LaunchConfig& launch);

// With HOOKSCOPE_REPORT_MEMORY=1 in the environment, one line on stderr: "rank R
// memory: before_load B stage_weights S peak P" (bytes; the resident size before the
// model was loaded, the weights it holds, the peak resident size so far).
void report_memory(int rank, uint64_t before_load, const Model& model);

} // namespace hookscope::cli
