#pragma once
// Pure functions from a model's hook table or a captured cache to what the views show.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
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

// Layers and heads as the cache's tensors show them (for a cache without its model,
// e.g. from a session): layers from the highest blocks.N, heads from an attention
// pattern, score or query tensor, kv heads from a key tensor (else = heads).
struct CacheShape {
    int64_t layers = 0, heads = 0, kv_heads = 0;
};
CacheShape cache_shape(const ActivationCache& cache);

// A token's display form from its exported text: spaces as ␣, line breaks as \n,
// tabs as \t (as Tokenizer::display writes them).
std::string display_of_text(const std::string& text);

} // namespace hookscope::ui
