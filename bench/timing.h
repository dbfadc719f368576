#pragma once
// Timing helpers the benchmarks share: the wall time of one call, and medians.

#include <algorithm>
#include <chrono>
#include <vector>

namespace hookscope::bench {

using Clock = std::chrono::steady_clock;

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Seconds one call of `f` takes.
template <class F> double seconds(F&& f) {
    const auto start = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace hookscope::bench
