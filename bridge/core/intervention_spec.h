#pragma once
// Interventions written as text: one change to the activation at one hook point.
//
//   SPEC      := HOOK [ "@" HEAD ] [ ":" POSITIONS ] "=" ACTION
//   POSITIONS := P | P1-P2            inclusive, counted from the sequence start
//   ACTION    := zero | mean | mean:P1-P2 | add:FILE[#KEY][*SCALE] | patch:FILE
//
// e.g. `blocks.0.attn.hook_z@1:2-5=zero`, `blocks.1.hook_resid_pre=add:steer.safetensors*2.5`.
// Parsing checks the text alone; check_spec() checks it against a model's hook points.
// Errors are InterventionError, naming the SPEC.

#include "bridge/core/hook_point.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

struct PositionRange {
    int64_t first = 0;
    int64_t last = 0; // inclusive
    friend bool operator==(const PositionRange&, const PositionRange&) = default;
};

enum class InterventionAction { Zero, Mean, Add, Patch };

struct InterventionSpec {
    HookPoint point;
    std::optional<int64_t> head;
    std::optional<PositionRange> positions; // none: every position
    InterventionAction action = InterventionAction::Zero;
    std::optional<PositionRange> mean_range; // mean: none until resolved (bare `mean`)
    std::string file;                        // add, patch: as written (`@pinned`: the pinned run)
    std::string key;                         // add: the tensor's name; empty: the file's only tensor
    double scale = 1;                        // add

    // Throws InterventionError naming `text` and what is wrong with it.
    static InterventionSpec parse(std::string_view text);

    // The canonical text; parse(to_string()) gives this spec back.
    std::string to_string() const;

    bool patches_from_pinned() const { return action == InterventionAction::Patch && file == kPinned; }
    static constexpr std::string_view kPinned = "@pinned";

    friend bool operator==(const InterventionSpec&, const InterventionSpec&) = default;
};

// The head axis of a hook point's shape, with the number of heads on it; nullopt for
// hooks without one. q, z (and rot_q) count the query heads on axis 2, k, v (and rot_k)
// the key/value heads on axis 2, the attention matrices the query heads on axis 1.
struct HeadAxis {
    int axis = 0;
    int64_t count = 0;
};
std::optional<HeadAxis> head_axis(const HookInfo& info);

// The axis of a hook point's shape that runs over positions (the query rows of an
// attention matrix).
int position_axis(const HookInfo& info);

// Checks `spec` against the hook points a model fires, for a run whose first forward
// pass covers `first_pass_length` positions and which can reach `max_positions`: the
// hook exists, the head is in range on a hook with a head axis, the positions lie
// before max_positions and a mean's range within the first pass, and the action is
// allowed on the hook (attention scores and patterns take only zero and patch).
// Returns the hook's description. Throws InterventionError naming the SPEC.
const HookInfo& check_spec(const InterventionSpec& spec, const std::vector<HookInfo>& points, int64_t first_pass_length,
                           int64_t max_positions);

// Bare `mean` takes its range from the first forward pass, positions
// 0..first_pass_length-1; other specs are returned as they are.
InterventionSpec resolved(InterventionSpec spec, int64_t first_pass_length);

// The scale of an `add:` SPEC, a steering vector (1 when it gives none); nullopt for
// any other text, another action or no SPEC at all.
std::optional<double> steering_scale(std::string_view text);

} // namespace hookscope
