// Intentionally empty: the translation unit whose target builds the tests' shared
// precompiled headers (see tests/CMakeLists.txt).
