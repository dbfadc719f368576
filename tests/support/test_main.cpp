// The main of each test executable: runs the test its first argument names.

#include "support/test_main.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace hookscope::test {

namespace {

std::map<std::string, TestRunner>& table() {
    static std::map<std::string, TestRunner> tests;
    return tests;
}

int usage(const char* program, const char* problem) {
    std::fprintf(stderr, "%s\nusage: %s TEST [Qt Test options]\ntests here:\n", problem, program);
    for (const auto& [name, run] : table())
        std::fprintf(stderr, "  %s\n", name.c_str());
    return 2;
}

} // namespace

bool register_test(const char* source_file, TestRunner run) {
    const std::string name = std::filesystem::path(source_file).stem().string();
    if (!table().emplace(name, run).second) {
        std::fprintf(stderr, "two test classes are registered as %s\n", name.c_str());
        std::abort();
    }
    return true;
}

} // namespace hookscope::test

int main(int argc, char** argv) {
    using hookscope::test::table;
    if (argc < 2) return hookscope::test::usage(argv[0], "no test named");
    const auto found = table().find(argv[1]);
    if (found == table().end()) {
        const std::string problem = std::string("no test called ") + argv[1];
        return hookscope::test::usage(argv[0], problem.c_str());
    }
    // Qt Test sees the program and its own options, as under QTEST_MAIN. The application
    // is named after the test, as a test's own executable would be, so that settings
    // (QSettings, in test mode) and scratch folders stay apart between tests running
    // side by side.
    QCoreApplication::setApplicationName(QString::fromLatin1(argv[1]));
    std::vector<char*> args{argv[0]};
    args.insert(args.end(), argv + 2, argv + argc);
    args.push_back(nullptr);
    return found->second(argc - 1, args.data());
}
