#pragma once
// Before a recompute: the bytes its cache will take, and whether that is more than
// the machine should give. A cache past the limit is refused before any work starts,
// with smaller names filters that would fit, instead of the machine swapping.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

// Bytes a recompute over `positions` tokens captures with `filter` (every captured
// activation is float32, whatever the model computes in).
int64_t estimated_cache_bytes(const std::vector<HookInfo>& hooks, const NamesFilter& filter, int64_t positions);

// How many of `hooks` `filter` selects.
int64_t matching_hooks(const std::vector<HookInfo>& hooks, const NamesFilter& filter);

// Positions a generation's recompute covers at most: the prompt and up to
// `max_new_tokens` more, as far as a context of `n_ctx` positions allows.
int64_t planned_positions(int64_t prompt, int64_t max_new_tokens, int64_t n_ctx);

// The share of the available memory a cache may take unless the user sets a limit.
inline constexpr double kCacheShareOfAvailable = 0.5;

struct CacheLimit {
    uint64_t bytes = 0;
    // The memory available when the limit is a share of it; nullopt for a limit the
    // user set.
    std::optional<uint64_t> available;
};

// kCacheShareOfAvailable of `available`.
CacheLimit share_of_available(uint64_t available);
// The limit when none is set: a share of what the system can give now; nullopt where
// that is unknown (no limit).
std::optional<CacheLimit> default_cache_limit();

struct FilterSuggestion {
    std::string filter;
    int64_t bytes = 0;
};

struct CacheTooLarge {
    int64_t bytes = 0;
    int64_t hook_points = 0;
    int64_t positions = 0;
    CacheLimit limit;
    // Common smaller filters that fit the limit (at most three): the residual stream,
    // the attention patterns, the last block.
    std::vector<FilterSuggestion> suggestions;

    // "the cache would take 3.2 GB (96 hook points over 300 positions), more than the
    // limit of 1.6 GB (half of the 3.3 GB of memory available)".
    std::string describe() const;
};

// nullopt when a recompute over `positions` with `filter` fits `limit` (or there is
// no limit); else what it would take and what would fit.
std::optional<CacheTooLarge> check_cache_size(const std::vector<HookInfo>& hooks, const NamesFilter& filter,
                                              int64_t positions, const std::optional<CacheLimit>& limit);

} // namespace hookscope
