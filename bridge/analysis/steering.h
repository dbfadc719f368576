#pragma once
// Steering vectors read from runs' caches (activation addition): the activation at one
// hook point and position, one head's where the hook has a head axis, of one run, or
// the difference between two runs of the same length (the run to steer toward minus
// the run to steer away from). Added back with `HOOK=add:FILE*SCALE`.

#include "bridge/core/hook_point.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

namespace hookscope {

class ActivationCache;

// How errors name the two runs.
struct SteeringNames {
    std::string toward = "the run";
    std::string away = "the other run";
};

// `info`'s activation at `position` (of `head` only, when given) in `toward`, minus the
// same in `away` when given: float32, the hook's trailing shape ([D] for the residual
// stream, [H, Dh] for hook_z, [Dh] with a head). Throws NotCapturedError naming the run
// that lacks the hook, InputError for a hook without a per-position shape, a position
// or head out of range, or runs of different lengths.
at::Tensor steering_vector(const HookInfo& info, std::optional<int64_t> head, int64_t position,
                           const ActivationCache& toward, const ActivationCache* away = nullptr,
                           const SteeringNames& names = {});

} // namespace hookscope
