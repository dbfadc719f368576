#pragma once
// The headless sub-commands (`hooks`, `run`, `inspect`, ...) behind `hookscope`.

#include <string>
#include <vector>

namespace hookscope::cli {

enum ExitCode { kOk = 0, kRunError = 1, kUsageError = 2 };

// Runs the command line `args` (without the program name). Output goes to stdout,
// errors to stderr; returns the exit code. Never throws.
int run(const std::vector<std::string>& args);

} // namespace hookscope::cli
