#pragma once
// What the sub-commands share: option specs, common settings, the model and prompt a
// command runs on, and the pieces of output more than one command writes.

#include "app/cli/options.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/precision.h"
#include "bridge/io/export.h"
#include "bridge/io/intervention_files.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
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

} // namespace hookscope::cli
