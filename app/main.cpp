// hookscope: the desktop window, or a headless sub-command.

#include "app/cli/commands.h"
#include "app/gui.h"
#include "bridge/model/kernels/kernels.h"

#include <csignal>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    // Past a file-size limit (ulimit -f), a write then fails with EFBIG, which the
    // export reports and cleans up after, instead of the signal killing the process.
    std::signal(SIGXFSZ, SIG_IGN);
    try {
        (void)hookscope::kernels::level_from_environment();
    } catch (const std::invalid_argument& e) {
        std::cerr << "hookscope: " << e.what() << "\n";
        return 2;
    }
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (hookscope::cli::opens_gui(args)) return hookscope::app::run_gui(argc, argv, args);
    return hookscope::cli::run(args);
}
