#pragma once
// The one helper every hook site calls. Whether a hook point is selected is decided
// once per run (a table lookup per site), so an unselected hook costs a branch:
// nothing is computed, copied or kept for it.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <concepts>
#include <vector>

namespace hookscope {

class HookRecorder {
public:
    // Records nothing.
    HookRecorder() = default;
    // Records the points of `points` that `filter` matches into `cache`, on `device`.
    HookRecorder(const std::vector<HookInfo>& points, int n_layers, const NamesFilter& filter, ActivationCache& cache,
                 c10::Device device);

    bool wants(HookPoint point) const { return !selected_.empty() && selected_[slot(point)]; }

    void capture(HookPoint point, const at::Tensor& value) {
        if (wants(point)) store(point, value);
    }

    // Records `value` when selected and returns the value the forward goes on with, so
    // every hook point sits on the compute path: what is recorded is what is used.
    at::Tensor fire(HookPoint point, at::Tensor value) {
        if (wants(point)) store(point, value);
        return value;
    }

    // For values that exist only to be recorded: `make` runs only when selected.
    template <std::invocable Make> void capture(HookPoint point, Make&& make) {
        if (wants(point)) store(point, make());
    }

private:
    std::size_t slot(HookPoint p) const {
        return static_cast<std::size_t>(p.site) * stride_ + static_cast<std::size_t>(p.layer + 1);
    }
    void store(HookPoint point, const at::Tensor& value);

    std::vector<bool> selected_;
    std::size_t stride_ = 0;
    ActivationCache* cache_ = nullptr;
    c10::Device device_ = c10::kCPU;
};

} // namespace hookscope
