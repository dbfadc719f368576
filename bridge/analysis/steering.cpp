#include "bridge/analysis/steering.h"

#include "bridge/core/errors.h"
#include "bridge/core/intervention_spec.h"
#include "bridge/model/activation_cache.h"

#include <ATen/ATen.h>

#include <string>

namespace hookscope {
namespace {

// The activation of one run, at one position (and head), as float32.
at::Tensor read_at(const HookInfo& info, std::optional<int64_t> head, int64_t position, const ActivationCache& run,
                   const std::string& which) {
    const at::Tensor* value = run.find(info.name);
    if (!value) throw NotCapturedError(which + " did not capture `" + info.name + "`");
    const int64_t positions = static_cast<int64_t>(run.tokens().size());
    if (position < 0 || position >= positions || value->size(1) != positions) {
        throw InputError("position " + std::to_string(position) + " is outside the " + std::to_string(positions) +
                         " positions of " + which);
    }
    at::Tensor row = value->select(0, 0).select(0, position); // the axes after positions
    if (head) row = row.select(0, *head);
    return row.to(at::kFloat).contiguous();
}

} // namespace

at::Tensor steering_vector(const HookInfo& info, std::optional<int64_t> head, int64_t position,
                           const ActivationCache& toward, const ActivationCache* away, const SteeringNames& names) {
    if (info.shape.size() < 3 || position_axis(info) != 1) {
        throw InputError("`" + info.name + "` has no per-position activation [1, P, ...] to steer with");
    }
    if (head) {
        const auto axis = head_axis(info);
        if (!axis || axis->axis != 2) throw InputError("`" + info.name + "` has no head axis");
        if (*head < 0 || *head >= axis->count) {
            throw InputError("head " + std::to_string(*head) + " is outside the " + std::to_string(axis->count) +
                             " heads of `" + info.name + "`");
        }
    }
    if (away && away->tokens().size() != toward.tokens().size()) {
        throw InputError(names.toward + " has " + std::to_string(toward.tokens().size()) + " positions and " +
                         names.away + " " + std::to_string(away->tokens().size()) +
                         ": a difference of two runs needs the same length (pad the shorter prompt)");
    }
    at::Tensor vector = read_at(info, head, position, toward, names.toward);
    if (away) vector = vector - read_at(info, head, position, *away, names.away);
    return vector;
}

} // namespace hookscope
