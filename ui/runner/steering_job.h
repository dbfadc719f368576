#pragma once
// Making a steering vector from the runs in the window: the vector read from their
// caches (bridge/analysis/steering.h) and written as a one-tensor file
// (bridge/io/steering_file.h). Small enough to run on the GUI thread. Free of Qt: Qt's
// `slots` keyword must not precede LibTorch's headers where it is compiled.

#include "bridge/core/hook_point.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

struct SteeringJob {
    HookInfo hook;
    std::optional<int64_t> head;
    int64_t position = 0;
    std::shared_ptr<const ActivationCache> run;    // the run in view
    std::shared_ptr<const ActivationCache> pinned; // set: the vector is pinned run - this run
    std::string path;                              // the file to write
};

// Writes the job's vector to its path, atomically; on failure returns why (naming the
// hook, the run or the file) and leaves no file, else "".
std::string write_steering_vector(const SteeringJob& job);

} // namespace hookscope::ui
