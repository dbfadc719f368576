// hookscope: the desktop window, or a headless sub-command.

#include "app/cli.h"
#include "app/gui.h"

#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (hookscope::cli::opens_gui(args)) return hookscope::app::run_gui(argc, argv, args);
    return hookscope::cli::run(args);
}
