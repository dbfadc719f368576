#pragma once
// The headless sub-commands (`hooks`, `run`, `inspect`, ...) behind `hookscope`: one
// table that both the --help text and the dispatch are built from.

#include "app/cli/options.h"

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope::cli {

enum ExitCode { kOk = 0, kRunError = 1, kUsageError = 2 };

// One sub-command: what --help says about it, what it accepts and what runs it. Each
// has its own file (handlers.h).
struct Command {
    std::string_view name;
    // The arguments after `hookscope NAME` in the usage lines; each further line is
    // indented to where the first one starts.
    std::string_view synopsis;
    // What the command does, for the "Sub-commands:" list; lines as they are shown,
    // further lines indented to where the first one starts.
    std::string_view description;
    // The options it accepts (spec(): the common ones included); the dispatch parses
    // the arguments against them before `run` sees them.
    OptionSpec (*options)();
    int (*run)(const Options& options);
};

// Every sub-command, in the order --help lists them.
std::span<const Command> commands();

// What `hookscope --help` prints: the usage lines, the sub-commands, the options and
// the exit codes.
std::string usage_text();

// Runs the command line `args` (without the program name). Output goes to stdout,
// errors to stderr; returns the exit code. Never throws.
int run(const std::vector<std::string>& args);

// Whether `args` open the GUI: no sub-command, and not only --help or --version.
bool opens_gui(const std::vector<std::string>& args);

// The bundled default model, models/kjv-gpt2 under $HOOKSCOPE_DATA_DIR, then
// <executable>/../share/hookscope, then the source tree's resources/ (where a build
// that was never installed finds it). The GUI and the sub-commands open it when no
// --model is given.
std::optional<std::filesystem::path> bundled_model();

} // namespace hookscope::cli
