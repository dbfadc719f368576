#pragma once
// What the sub-commands share: option specs, common settings, and the model and
// prompt a command runs on. cli.cpp defines these; cli_analysis.cpp uses them too.

#include "app/options.h"
#include "bridge/core/precision.h"
#include "bridge/model/model.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hookscope::cli {

// `flags` and `values` plus the options every command takes (--dtype, --threads).
OptionSpec spec(std::set<std::string> flags, std::set<std::string> values, int positionals = 0);

// Settings every command shares: thread counts and the compute dtype, returned.
Precision apply_common(const Options& options);

// --model (a folder or a hub id in the local cache), else the bundled default model.
std::filesystem::path model_folder(const Options& options);

// Model::load, with what it found wrong but loadable told on stderr.
std::unique_ptr<Model> load_model(const std::filesystem::path& folder, Precision precision);

// The model's tokenizer and its BOS/EOS, for commands that take text.
struct TextCodec {
    Tokenizer tokenizer;
    SpecialTokens special;
};
TextCodec load_text_codec(const std::filesystem::path& folder);

// The ids a command runs on: --tokens as given, or --prompt through the tokenizer.
struct PromptInput {
    std::vector<int64_t> tokens;
    std::optional<TextCodec> codec;
};
PromptInput prompt_input(const Options& options, const std::filesystem::path& folder);

// The analysis sub-commands (cli_analysis.cpp).
int lens_command(const std::vector<std::string>& args);
int attribute_command(const std::vector<std::string>& args);

} // namespace hookscope::cli
