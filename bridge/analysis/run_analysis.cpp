#include "bridge/analysis/run_analysis.h"

#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/interventions.h"
#include "bridge/model/model.h"

namespace hookscope {

ActivationCache capture_hooks(const Model& model, const std::vector<int64_t>& tokens,
                              const std::vector<std::string>& hooks, Interventions* interventions) {
    if (interventions && interventions->empty()) interventions = nullptr;
    return model.run_with_cache(tokens, NamesFilter(exact_names_filter(hooks)), c10::kCPU, interventions);
}

RunAttribution attribute_run(const Model& model, const std::vector<int64_t>& tokens, int64_t position, int64_t target,
                             std::optional<int64_t> contrast, Interventions* interventions) {
    const ActivationCache cache = capture_hooks(model, tokens, attribution_hooks(model.config()), interventions);
    RunAttribution out{attribute(model, cache, position, target, contrast), std::nullopt};
    // The parts read their hook points as the interventions left them, but what an
    // intervention adds to (or takes from) the residual stream itself passes through no
    // part: it is what the parts leave of the logit unexplained.
    if (interventions && !interventions->empty()) {
        out.interventions = out.attribution.logit - out.attribution.sum;
        out.attribution.sum = out.attribution.logit;
    }
    return out;
}

std::vector<LensLayer> lens_run(const Model& model, const std::vector<int64_t>& tokens, int64_t top_k,
                                const std::vector<int64_t>& targets, Interventions* interventions) {
    const ActivationCache cache = capture_hooks(model, tokens, lens_hooks(model.config()), interventions);
    return logit_lens(model, cache, top_k, targets);
}

} // namespace hookscope
