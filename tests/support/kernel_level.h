#pragma once
// A test main that runs at the kernel level HOOKSCOPE_KERNELS names (CTest registers
// one process per level, see tests/CMakeLists.txt), and skips (exit code 77) where the
// CPU lacks that level's instructions.

#include "bridge/model/kernels/kernels.h"
#include "support/test_main.h"

#include <QCoreApplication>
#include <QtTest>

#include <cstdio>
#include <stdexcept>

namespace hookscope::test {

inline constexpr int kSkipped = 77;

inline int exec_at_requested_level(QObject& test, int argc, char** argv) {
    try {
        const auto wanted = kernels::level_from_environment();
        if (wanted && kernels::cpu_level() < *wanted) {
            std::printf("SKIP: HOOKSCOPE_KERNELS=%s, but this CPU's best level is %s\n", kernels::level_name(*wanted),
                        kernels::level_name(kernels::cpu_level()));
            return kSkipped;
        }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    std::printf("kernel level: %s\n", kernels::level_name(kernels::level()));
    QCoreApplication app(argc, argv);
    return QTest::qExec(&test, argc, argv);
}

} // namespace hookscope::test

// HOOKSCOPE_TEST_GUILESS_MAIN at the requested kernel level.
#define HOOKSCOPE_LEVEL_TEST_MAIN(TestClass)                                                                           \
    int run_##TestClass(int argc, char** argv) {                                                                       \
        TestClass test;                                                                                                \
        return hookscope::test::exec_at_requested_level(test, argc, argv);                                             \
    }                                                                                                                  \
    HOOKSCOPE_REGISTER_TEST(TestClass)
