#include "bridge/core/cache_budget.h"

#include "bridge/core/system_memory.h"

#include <algorithm>
#include <cmath>

namespace hookscope {

int64_t estimated_cache_bytes(const std::vector<HookInfo>& hooks, const NamesFilter& filter, int64_t positions) {
    int64_t bytes = 0;
    for (const HookInfo& h : hooks) {
        if (!filter.matches(h.name)) continue;
        int64_t elements = 1;
        for (const int64_t d : concrete_shape(h, positions))
            elements *= d;
        bytes += elements * static_cast<int64_t>(sizeof(float));
    }
    return bytes;
}

int64_t matching_hooks(const std::vector<HookInfo>& hooks, const NamesFilter& filter) {
    return std::count_if(hooks.begin(), hooks.end(), [&](const HookInfo& h) { return filter.matches(h.name); });
}

int64_t planned_positions(int64_t prompt, int64_t max_new_tokens, int64_t n_ctx) {
    return prompt + std::max<int64_t>(0, std::min(max_new_tokens, n_ctx - prompt));
}

CacheLimit share_of_available(uint64_t available) {
    return {static_cast<uint64_t>(std::floor(static_cast<double>(available) * kCacheShareOfAvailable)), available};
}

std::optional<CacheLimit> default_cache_limit() {
    if (const auto available = available_memory_bytes()) return share_of_available(*available);
    return std::nullopt;
}

std::string CacheTooLarge::describe() const {
    std::string text = "the cache would take " + byte_size_text(static_cast<uint64_t>(bytes)) + " (" +
                       std::to_string(hook_points) + " hook point" + (hook_points == 1 ? "" : "s") + " over " +
                       std::to_string(positions) + " positions), more than the limit of " + byte_size_text(limit.bytes);
    static_assert(kCacheShareOfAvailable == 0.5, "describe() says \"half\"");
    if (limit.available) text += " (half of the " + byte_size_text(*limit.available) + " of memory available)";
    return text;
}

std::optional<CacheTooLarge> check_cache_size(const std::vector<HookInfo>& hooks, const NamesFilter& filter,
                                              int64_t positions, const std::optional<CacheLimit>& limit) {
    if (!limit) return std::nullopt;
    const int64_t bytes = estimated_cache_bytes(hooks, filter, positions);
    if (static_cast<uint64_t>(bytes) <= limit->bytes) return std::nullopt;

    CacheTooLarge out{bytes, matching_hooks(hooks, filter), positions, *limit, {}};
    // What people most often keep: the residual stream, then the attention patterns,
    // then the last block whole. Each is offered only where it fits.
    int last = -1;
    for (const HookInfo& h : hooks)
        last = std::max(last, h.point.layer);
    std::vector<std::string> candidates = {"*hook_resid_post", "blocks.*.attn.hook_pattern"};
    if (last >= 0) candidates.push_back("blocks." + std::to_string(last) + ".*");
    for (const std::string& candidate : candidates) {
        const int64_t b = estimated_cache_bytes(hooks, NamesFilter(candidate), positions);
        if (b > 0 && static_cast<uint64_t>(b) <= limit->bytes) out.suggestions.push_back({candidate, b});
    }
    return out;
}

} // namespace hookscope
