#pragma once
// The headless sub-commands (`hooks`, `run`, `inspect`, ...) behind `hookscope`.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope::cli {

enum ExitCode { kOk = 0, kRunError = 1, kUsageError = 2 };

// Runs the command line `args` (without the program name). Output goes to stdout,
// errors to stderr; returns the exit code. Never throws.
int run(const std::vector<std::string>& args);

// Whether `args` open the GUI: no sub-command, and not only --help or --version.
bool opens_gui(const std::vector<std::string>& args);

// The bundled default model, models/kjv-gpt2 under $HOOKSCOPE_DATA_DIR, then
// <executable>/../share/hookscope, then the source tree's resources/ (DESIGN.md).
std::optional<std::filesystem::path> bundled_model();

} // namespace hookscope::cli
