// hookscope: the GUI entry and the headless sub-commands.

#include "app/cli.h"

#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return hookscope::cli::run(args);
}
