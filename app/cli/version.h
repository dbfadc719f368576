#pragma once
// What `hookscope --version` reports: enough to reproduce a bug report.

#include <string>

namespace hookscope {

// The source tree's commit at build time (10 hex digits, "-dirty" with uncommitted
// changes to tracked files, "unknown" outside a git checkout). Generated at build time.
const char* git_revision();

// Several lines: HookScope's version and revision, then the LibTorch, Qt and BLAS
// libraries it runs on.
std::string version_report();

} // namespace hookscope
