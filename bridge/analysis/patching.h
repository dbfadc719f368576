#pragma once
// Activation patching sweeps, as TransformerLens' patching module computes them: the
// corrupted prompt run with one activation replaced by the clean prompt's, for every
// (layer, position) of the residual stream entering each block (resid_pre), each
// attention output (attn_out) and each MLP output (mlp_out), and every (layer, head) of
// the heads' outputs at all positions (head_out: one head of hook_z), each measured by
// the logit difference logit[answer] - logit[wrong] at the last position.
//
// A patch at block L and position p leaves every block before L, and every position
// before p, as the corrupted run computed them; the sweep starts each patched run at
// block L from the corrupted run's residual stream, batches the cells of one layer
// into one forward and computes only the last position's logits.

#include "bridge/model/interventions.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class ActivationCache;
class Model;

enum class PatchSite { ResidPre, AttnOut, MlpOut, HeadOut };
inline constexpr PatchSite kPatchSites[] = {PatchSite::ResidPre, PatchSite::AttnOut, PatchSite::MlpOut,
                                            PatchSite::HeadOut};
// "resid_pre", "attn_out", "mlp_out", "head_out".
std::string_view patch_site_name(PatchSite site);
std::optional<PatchSite> parse_patch_site(std::string_view name);
// The hook a site patches in block `layer`.
HookPoint patch_site_hook(PatchSite site, int layer);

struct PatchingRequest {
    std::vector<int64_t> clean, corrupted; // the same length
    std::optional<int64_t> answer;         // default: the clean run's top prediction
    std::optional<int64_t> wrong;          // default: the corrupted run's top (its second when that is the answer)
    std::vector<PatchSite> sites{std::begin(kPatchSites), std::end(kPatchSites)};
    // Applied to every run of the sweep, clean and corrupted; means are taken by each
    // of those two runs, the patched runs keep the corrupted run's.
    Interventions interventions;
};

struct PatchingGrid {
    PatchSite site = PatchSite::ResidPre;
    at::Tensor logit_diff; // [layers, positions], or [layers, heads] for head_out; float64
};

struct PatchingResult {
    int64_t answer = 0, wrong = 0;
    double clean_logit_diff = 0, corrupted_logit_diff = 0;
    std::vector<PatchingGrid> grids; // in the order of the request's sites

    // (patched - corrupted) / (clean - corrupted): 1 where the patch restores the clean
    // run, 0 where it changes nothing; nullopt when |clean - corrupted| < 1e-6.
    std::optional<at::Tensor> normalized(const PatchingGrid& grid) const;
};

struct PatchingCallbacks {
    std::function<void(int64_t done, int64_t total)> progress; // after each batched forward
    std::function<bool()> cancelled;                           // polled before each
};

// What a request can get wrong without a model: prompts of different lengths, or an
// answer and a wrong token given as the same token. Throws InputError.
void check_patching_prompts(const PatchingRequest& request);

// Throws InputError for prompts of different lengths, an empty or too long prompt,
// answer equal to wrong or ids outside the vocabulary. nullopt when cancelled.
std::optional<PatchingResult> patching_sweep(const Model& model, const PatchingRequest& request,
                                             const PatchingCallbacks& callbacks = {});

// The logit difference at the last position of `tokens` with one cell patched from
// `clean_cache` by a full forward: the plain loop the sweep replaces (tests, benchmark).
double patched_logit_diff_by_full_forward(const Model& model, const std::vector<int64_t>& tokens,
                                          const ActivationCache& clean_cache, PatchSite site, int layer, int64_t cell,
                                          int64_t answer, int64_t wrong, const Interventions& interventions = {});

} // namespace hookscope
