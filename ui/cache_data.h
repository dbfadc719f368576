#pragma once
// Pure functions from a model's hook table or a captured cache to what the views show.

#include "bridge/hook_point.h"
#include "bridge/names_filter.h"
#include "ui/hook_tree_model.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

// Rows for a model's hook points before any run (the sequence axis unknown).
std::vector<HookEntry> hook_entries(const std::vector<HookInfo>& hooks);
// Rows for a captured cache, with concrete shapes and bytes.
std::vector<HookEntry> hook_entries(const ActivationCache& cache);

// Min, max, mean and L2 norm of every captured tensor, in cache order. Slow for big
// caches: run it off the GUI thread.
std::vector<std::optional<TensorStats>> tensor_stats(const ActivationCache& cache);

// Bytes a recompute over `positions` tokens would capture with `filter` (float32).
int64_t estimated_cache_bytes(const std::vector<HookInfo>& hooks, const NamesFilter& filter, int64_t positions);

} // namespace hookscope::ui
