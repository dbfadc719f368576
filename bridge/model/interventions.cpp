#include "bridge/model/interventions.h"

#include "bridge/core/errors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

namespace hookscope {

Interventions::Interventions(std::vector<Intervention> items) : items_(std::move(items)), means_(items_.size()) {}

std::vector<std::string> Interventions::texts() const {
    std::vector<std::string> out;
    for (const Intervention& item : items_)
        out.push_back(item.spec.to_string());
    return out;
}

void Interventions::start_run() {
    std::fill(means_.begin(), means_.end(), at::Tensor());
}

at::Tensor Interventions::apply(HookPoint point, const at::Tensor& value, int64_t end) {
    at::Tensor out = value;
    for (std::size_t i = 0; i < items_.size(); ++i) {
        if (items_[i].spec.point == point) out = apply_one(i, out, end);
    }
    if (cells_ && cells_->hook.point == point) out = apply_cells(out, end);
    return out;
}

at::Tensor Interventions::apply_cells(const at::Tensor& value, int64_t end) const {
    const CellPatches& cells = *cells_;
    const int seq = position_axis(cells.hook);
    const auto heads = head_axis(cells.hook);
    const int64_t first = end - value.size(seq);
    at::Tensor out = value.clone(at::MemoryFormat::Contiguous);
    const at::Tensor source = cells.source.to(out.scalar_type());
    for (int64_t b = 0; b < out.size(0); ++b) {
        const std::size_t cell = static_cast<std::size_t>(b);
        // The positions element b patches that this forward computes and the source holds.
        int64_t lo = std::max(first, int64_t{0}), hi = std::min(end, source.size(seq)) - 1;
        if (cells.positions[cell] >= 0) {
            lo = std::max(lo, cells.positions[cell]);
            hi = std::min(hi, cells.positions[cell]);
        }
        if (lo > hi) continue;
        // Batch axis 0 dropped: the position axis moves down by one.
        at::Tensor target = out[b].narrow(seq - 1, lo - first, hi - lo + 1);
        at::Tensor from = source[0].narrow(seq - 1, lo, hi - lo + 1);
        if (cells.heads[cell] >= 0) {
            target = target.select(heads->axis - 1, cells.heads[cell]);
            from = from.select(heads->axis - 1, cells.heads[cell]);
        }
        target.copy_(from);
    }
    return out;
}

at::Tensor Interventions::apply_one(std::size_t index, const at::Tensor& value, int64_t end) {
    const Intervention& item = items_[index];
    const InterventionSpec& spec = item.spec;
    const int seq = position_axis(item.hook);
    const auto heads = head_axis(item.hook);
    const int64_t first = end - value.size(seq); // the position of the value's first row
    const auto one_head = [&](const at::Tensor& t) { return spec.head ? t.select(heads->axis, *spec.head) : t; };

    if (spec.action == InterventionAction::Mean && !means_[index].defined()) {
        const PositionRange& range = *spec.mean_range;
        if (range.first < first || range.last >= end) {
            throw InterventionError("intervention `" + spec.to_string() +
                                    "`: the first forward pass computed positions " + std::to_string(first) + "-" +
                                    std::to_string(end - 1) + ", not all of the mean's positions");
        }
        means_[index] = one_head(value.narrow(seq, range.first - first, range.last - range.first + 1)).mean(seq, true);
    }

    // The positions of this forward the intervention selects: [lo, hi].
    int64_t lo = first, hi = end - 1;
    if (spec.positions) {
        lo = std::max(lo, spec.positions->first);
        hi = std::min(hi, spec.positions->last);
    }
    if (spec.action == InterventionAction::Patch) hi = std::min(hi, item.source.size(seq) - 1);
    if (lo > hi) return value;

    at::Tensor out = value.clone(at::MemoryFormat::Contiguous);
    at::Tensor target = one_head(out.narrow(seq, lo - first, hi - lo + 1));
    switch (spec.action) {
    case InterventionAction::Zero: target.zero_(); break;
    case InterventionAction::Mean: target.copy_(means_[index]); break;
    case InterventionAction::Add: target.add_(item.vector.to(target.scalar_type())); break;
    case InterventionAction::Patch: {
        const at::Tensor source = one_head(item.source.narrow(seq, lo, hi - lo + 1)).to(target.scalar_type());
        if (item.hook.point.site != Site::AttnScores && item.hook.point.site != Site::AttnPattern) {
            target.copy_(source);
            break;
        }
        // Attention matrices: the source's rows cover its own keys; keys past them lie
        // after every patched query, where the causal mask leaves nothing.
        const int64_t keys = target.size(-1), shared = std::min(keys, source.size(-1));
        target.narrow(-1, 0, shared).copy_(source.narrow(-1, 0, shared));
        if (keys > shared) {
            target.narrow(-1, shared, keys - shared)
                .fill_(item.hook.point.site == Site::AttnScores ? -std::numeric_limits<float>::infinity() : 0.0f);
        }
        break;
    }
    }
    return out;
}

} // namespace hookscope
