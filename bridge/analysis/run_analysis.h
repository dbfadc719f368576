#pragma once
// The logit lens and direct logit attribution of one forward over a run's tokens, with
// the interventions that run had applied, so that they read the intervened residual
// stream. The command line and the window share these, so both report the same parts.

#include "bridge/analysis/analysis.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

class ActivationCache;
class Interventions;
class Model;

// One forward over `tokens` capturing exactly `hooks`, with `interventions` applied
// (null or empty: a plain forward).
ActivationCache capture_hooks(const Model& model, const std::vector<int64_t>& tokens,
                              const std::vector<std::string>& hooks, Interventions* interventions = nullptr);

// An attribution, and with interventions what they put into the residual stream
// directly: the logit minus the sum of the other parts. `attribution.sum` is then the
// logit, so that the parts, this one included, still sum to it.
struct RunAttribution {
    Attribution attribution;
    std::optional<double> interventions; // nullopt without interventions
};

// attribute() over one forward of `tokens` that captures attribution_hooks() with
// `interventions` applied (null or empty: a plain forward). Throws as attribute() does.
RunAttribution attribute_run(const Model& model, const std::vector<int64_t>& tokens, int64_t position, int64_t target,
                             std::optional<int64_t> contrast, Interventions* interventions);

// logit_lens() over one forward of `tokens` that captures lens_hooks() with
// `interventions` applied (null or empty: a plain forward).
std::vector<LensLayer> lens_run(const Model& model, const std::vector<int64_t>& tokens, int64_t top_k,
                                const std::vector<int64_t>& targets, Interventions* interventions);

} // namespace hookscope
