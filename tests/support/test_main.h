#pragma once
// The tests are linked into a few executables, each holding many test files, so that
// their sources compile in batches (tests/CMakeLists.txt). A process runs the test class
// of the one file its first argument names, the rest of the arguments going to Qt Test
// as usual:
//
//     hs_tests tst_gpt2 -functions
//
// Each test file ends with one of the macros below in place of Qt's QTEST_*MAIN; they
// set up the application object exactly as the Qt macro of the same name does.

#include <QtTest>

namespace hookscope::test {

using TestRunner = int (*)(int argc, char** argv);

// Adds the test class of `source_file` (its __FILE__) to this executable's table, under
// the file's name without folder and extension. Returns true, so that a namespace-scope
// constant can call it before main.
bool register_test(const char* source_file, TestRunner run);

} // namespace hookscope::test

// Defines run_<TestClass>(argc, argv), which sets up what the variadic part says, runs
// the class's test functions and returns Qt Test's exit code, and registers it.
#define HOOKSCOPE_TEST_RUNNER(TestClass, ...)                                                                          \
    int run_##TestClass(int argc, char** argv) {                                                                       \
        QT_PREPEND_NAMESPACE(QTest::Internal::callInitMain)<TestClass>();                                              \
        __VA_ARGS__                                                                                                    \
        TestClass tc;                                                                                                  \
        QTEST_SET_MAIN_SOURCE_PATH                                                                                     \
        return QTest::qExec(&tc, argc, argv);                                                                          \
    }                                                                                                                  \
    HOOKSCOPE_REGISTER_TEST(TestClass)

#define HOOKSCOPE_REGISTER_TEST(TestClass)                                                                             \
    [[maybe_unused]] const bool registered_##TestClass = hookscope::test::register_test(__FILE__, run_##TestClass);

// QTEST_MAIN: a QApplication where the executable links Qt Widgets, else QCoreApplication.
#define HOOKSCOPE_TEST_MAIN(TestClass) HOOKSCOPE_TEST_RUNNER(TestClass, QTEST_MAIN_SETUP())
// QTEST_GUILESS_MAIN: a QCoreApplication.
#define HOOKSCOPE_TEST_GUILESS_MAIN(TestClass) HOOKSCOPE_TEST_RUNNER(TestClass, QTEST_QAPP_SETUP(QCoreApplication))
// QTEST_APPLESS_MAIN: no application object.
#define HOOKSCOPE_TEST_APPLESS_MAIN(TestClass) HOOKSCOPE_TEST_RUNNER(TestClass)
