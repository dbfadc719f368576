#pragma once
// The one helper every hook site calls. Whether a hook point is recorded or changed
// is decided once per run (a table lookup per site), so an untouched hook costs a
// branch: nothing is computed, copied or kept for it.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/interventions.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

namespace hookscope {

// Thrown by HookRecorder::fire once the last selected hook point is recorded, when the
// recorder was told to end the forward there; caught by the model method that ran it.
struct ForwardEnded {};

class HookRecorder {
public:
    // Records nothing, changes nothing.
    HookRecorder() = default;
    // Records the points of `points` that `filter` matches into `cache`, on `device`.
    HookRecorder(const std::vector<HookInfo>& points, int n_layers, const NamesFilter& filter, ActivationCache& cache,
                 c10::Device device);
    // Records nothing (interventions only) in a model of `n_layers` blocks.
    explicit HookRecorder(int n_layers);

    // Applies `interventions` at their hook points in the forwards that follow, each
    // over positions start..start+P-1 as set by starting_at(). Kept by pointer.
    void intervene(Interventions& interventions);
    void starting_at(int64_t start, int64_t positions) { end_ = start + positions; }
    // A packed forward: sequences of `lengths` positions laid end to end in one row of
    // tokens [1, sum], each at positions 0..length-1 and attending only to itself. The
    // architectures read it where positions enter (position embeddings, rotary angles,
    // attention); nothing else sees a difference.
    void pack(std::vector<int64_t> lengths);
    const std::vector<int64_t>* packed_lengths() const { return packed_lengths_.empty() ? nullptr : &packed_lengths_; }
    // Each token's position within its sequence, [sum] int64; undefined when not packed.
    const at::Tensor& packed_positions() const { return packed_positions_; }

    // Ends the forward by throwing ForwardEnded right after the last selected hook point
    // is recorded: what would follow records nothing. Without interventions only.
    void end_after_last_record();

    // Whether the forward must compute the value at `point`: it is recorded or changed.
    bool wants(HookPoint point) const { return !flags_.empty() && flags_[slot(point)] != 0; }
    bool intervenes(HookPoint point) const { return !flags_.empty() && (flags_[slot(point)] & kIntervene) != 0; }
    // Whether the last position alone may go on after the blocks of a KV-cached pass:
    // not when an intervention acts there (a mean there needs every position).
    bool last_position_suffices() const { return !after_blocks_; }

    // Returns the value the forward goes on with, after any interventions at `point`,
    // and records it when selected: every hook point sits on the compute path, and what
    // is recorded is what is used.
    at::Tensor fire(HookPoint point, at::Tensor value) {
        if (wants(point)) return fire_selected(point, std::move(value));
        return value;
    }

private:
    static constexpr uint8_t kRecord = 1, kIntervene = 2;

    std::size_t slot(HookPoint p) const {
        return static_cast<std::size_t>(p.site) * stride_ + static_cast<std::size_t>(p.layer + 1);
    }
    at::Tensor fire_selected(HookPoint point, at::Tensor value);

    std::vector<uint8_t> flags_;
    std::size_t stride_ = 0;
    ActivationCache* cache_ = nullptr;
    c10::Device device_ = c10::kCPU;
    Interventions* interventions_ = nullptr;
    int64_t end_ = 0;
    bool after_blocks_ = false;
    int records_left_ = -1; // counted down when the forward ends after the last record
    std::vector<int64_t> packed_lengths_;
    at::Tensor packed_positions_;
};

} // namespace hookscope
