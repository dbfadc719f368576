#pragma once
// The sub-commands, one file each: the options a command accepts (built with spec(),
// so the common ones are included) and the handler that runs it on them. Handlers
// write their output to stdout and return the exit code; they throw UsageError for
// what the arguments get wrong and Error (or LibTorch's errors) for the rest.
// commands.cpp lists them in its table.

#include "app/cli/options.h"

namespace hookscope::cli {

OptionSpec hooks_options();
int hooks_command(const Options& options);

OptionSpec heads_options();
int heads_command(const Options& options);

OptionSpec tokenize_options();
int tokenize_command(const Options& options);

OptionSpec run_options();
int run_command(const Options& options);

OptionSpec generate_options();
int generate_command(const Options& options);

OptionSpec lens_options();
int lens_command(const Options& options);

OptionSpec attribute_options();
int attribute_command(const Options& options);

OptionSpec patch_options();
int patch_command(const Options& options);

OptionSpec collect_options();
int collect_command(const Options& options);

OptionSpec inspect_options();
int inspect_command(const Options& options);

OptionSpec models_options();
int models_command(const Options& options);

} // namespace hookscope::cli
