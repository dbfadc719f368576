#pragma once
// `hookscope [--model M] [--prompt TEXT]`: the desktop window.

#include <string>
#include <vector>

namespace hookscope::app {

// Starts the GUI; returns the exit code. `args` are argv without the program name.
int run_gui(int argc, char** argv, const std::vector<std::string>& args);

} // namespace hookscope::app
