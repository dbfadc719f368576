#include "bridge/analysis/patching.h"

#include "bridge/analysis/analysis.h"
#include "bridge/core/errors.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace hookscope {
namespace {

constexpr std::array<std::string_view, 4> kSiteNames{"resid_pre", "attn_out", "mlp_out", "head_out"};

// Rows of the residual stream a batched forward may take at once: bounds the
// attention matrices (batch x heads x positions^2) while keeping products large.
constexpr int64_t kRowsPerForward = 4096;

const HookInfo& hook_info(const Model& model, HookPoint point) {
    if (const HookInfo* info = find_hook(model.hook_points(), point)) return *info;
    throw InputError("this model has no hook point `" + point.to_string() + "`");
}

double logit_diff(const at::Tensor& last_logits, int64_t answer, int64_t wrong) {
    return (last_logits[answer] - last_logits[wrong]).item<double>();
}

// The top token of `logits` [V], or the second when the top is `avoid`.
int64_t top_token(const at::Tensor& logits, std::optional<int64_t> avoid = std::nullopt) {
    const at::Tensor top = std::get<1>(logits.topk(2));
    const int64_t first = top[0].item<int64_t>();
    return avoid && first == *avoid ? top[1].item<int64_t>() : first;
}

} // namespace

std::string_view patch_site_name(PatchSite site) {
    return kSiteNames[static_cast<std::size_t>(site)];
}

std::optional<PatchSite> parse_patch_site(std::string_view name) {
    for (const PatchSite site : kPatchSites) {
        if (patch_site_name(site) == name) return site;
    }
    return std::nullopt;
}

HookPoint patch_site_hook(PatchSite site, int layer) {
    switch (site) {
    case PatchSite::ResidPre: return HookPoint::block(Site::ResidPre, layer);
    case PatchSite::AttnOut: return HookPoint::block(Site::AttnOut, layer);
    case PatchSite::MlpOut: return HookPoint::block(Site::MlpOut, layer);
    case PatchSite::HeadOut: return HookPoint::block(Site::AttnZ, layer);
    }
    return HookPoint::block(Site::ResidPre, layer);
}

std::optional<at::Tensor> PatchingResult::normalized(const PatchingGrid& grid) const {
    const double range = clean_logit_diff - corrupted_logit_diff;
    if (std::abs(range) < 1e-6) return std::nullopt;
    return (grid.logit_diff - corrupted_logit_diff) / range;
}

void check_patching_prompts(const PatchingRequest& request) {
    if (request.clean.size() != request.corrupted.size()) {
        throw InputError("clean and corrupted prompts must have the same number of tokens: clean has " +
                         std::to_string(request.clean.size()) + ", corrupted " +
                         std::to_string(request.corrupted.size()));
    }
    if (request.answer && request.wrong && *request.answer == *request.wrong)
        throw InputError("the answer and the wrong token are the same token (" + std::to_string(*request.answer) + ")");
}

std::optional<PatchingResult> patching_sweep(const Model& model, const PatchingRequest& request,
                                             const PatchingCallbacks& callbacks) {
    const ModelConfig& config = model.config();
    check_patching_prompts(request);
    for (const auto& id : {request.answer, request.wrong}) {
        if (!id) continue;
        const int64_t one[] = {*id};
        check_token_ids(one, config.d_vocab);
    }
    const auto positions = static_cast<int64_t>(request.clean.size());
    const auto layers = static_cast<int>(config.n_layers);

    // The clean run records what the patches copy; the corrupted run the residual
    // stream each patched run starts from, and it keeps its means for them.
    std::vector<std::string> clean_hooks, corrupted_hooks;
    for (int layer = 0; layer < layers; ++layer) {
        for (const PatchSite site : request.sites)
            clean_hooks.push_back(patch_site_hook(site, layer).to_string());
        corrupted_hooks.push_back(HookPoint::block(Site::ResidPre, layer).to_string());
    }
    Interventions clean_changes = request.interventions;
    const ActivationCache clean =
        model.run_with_cache(request.clean, NamesFilter(exact_names_filter(clean_hooks)), c10::kCPU, &clean_changes);
    Interventions changes = request.interventions;
    const ActivationCache corrupted =
        model.run_with_cache(request.corrupted, NamesFilter(exact_names_filter(corrupted_hooks)), c10::kCPU, &changes);

    PatchingResult result;
    const at::Tensor clean_last = clean.logits()[0][-1], corrupted_last = corrupted.logits()[0][-1];
    result.answer = request.answer ? *request.answer : top_token(clean_last);
    result.wrong = request.wrong ? *request.wrong : top_token(corrupted_last, result.answer);
    if (result.answer == result.wrong) {
        throw InputError("the answer and the wrong token are the same token (" + std::to_string(result.answer) +
                         "): the logit difference would be 0 everywhere");
    }
    result.clean_logit_diff = logit_diff(clean_last, result.answer, result.wrong);
    result.corrupted_logit_diff = logit_diff(corrupted_last, result.answer, result.wrong);

    const int64_t batch = std::max<int64_t>(1, kRowsPerForward / positions);
    const auto cells_of = [&](PatchSite site) { return site == PatchSite::HeadOut ? config.n_heads : positions; };
    int64_t total = 0, done = 0;
    for (const PatchSite site : request.sites)
        total += layers * ((cells_of(site) + batch - 1) / batch);

    for (const PatchSite site : request.sites) {
        const int64_t cells = cells_of(site);
        at::Tensor grid = at::empty({layers, cells}, at::kDouble);
        for (int layer = 0; layer < layers; ++layer) {
            const HookPoint hook = patch_site_hook(site, layer);
            const at::Tensor start = corrupted[HookPoint::block(Site::ResidPre, layer).to_string()];
            for (int64_t first = 0; first < cells; first += batch) {
                if (callbacks.cancelled && callbacks.cancelled()) return std::nullopt;
                const int64_t count = std::min(batch, cells - first);
                CellPatches patches{hook_info(model, hook), clean[hook.to_string()], {}, {}};
                for (int64_t cell = first; cell < first + count; ++cell) {
                    patches.positions.push_back(site == PatchSite::HeadOut ? -1 : cell);
                    patches.heads.push_back(site == PatchSite::HeadOut ? cell : -1);
                }
                changes.set_cell_patches(std::move(patches));
                const at::Tensor logits =
                    model.last_logits_from_block(start.expand({count, positions, -1}).contiguous(), layer, &changes);
                const at::Tensor diffs =
                    (logits.select(1, 0).select(1, result.answer) - logits.select(1, 0).select(1, result.wrong))
                        .to(at::kDouble);
                grid[layer].narrow(0, first, count).copy_(diffs);
                if (callbacks.progress) callbacks.progress(++done, total);
            }
        }
        changes.clear_cell_patches();
        result.grids.push_back({site, grid});
    }
    return result;
}

double patched_logit_diff_by_full_forward(const Model& model, const std::vector<int64_t>& tokens,
                                          const ActivationCache& clean_cache, PatchSite site, int layer, int64_t cell,
                                          int64_t answer, int64_t wrong, const Interventions& interventions) {
    Intervention patch;
    patch.hook = hook_info(model, patch_site_hook(site, layer));
    patch.spec.point = patch.hook.point;
    patch.spec.action = InterventionAction::Patch;
    patch.spec.file = InterventionSpec::kPinned;
    if (site == PatchSite::HeadOut) {
        patch.spec.head = cell;
    } else {
        patch.spec.positions = PositionRange{cell, cell};
    }
    patch.source = clean_cache[patch.hook.name].to(at::kFloat);
    std::vector<Intervention> items = interventions.items();
    items.push_back(std::move(patch));
    Interventions changes(std::move(items));
    const at::Tensor logits = model.forward(tokens, &changes);
    return logit_diff(logits[0][-1], answer, wrong);
}

} // namespace hookscope
