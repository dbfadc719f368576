#pragma once
// A streaming sum of floats, the read that the benchmarks' bandwidth bounds are made of:
// summed with enough independent additions that memory, not the arithmetic, sets the
// pace. x86-64 only, as the benchmarks are.

#include <immintrin.h>

#include <cstddef>
#include <vector>

namespace hookscope::bench {

// The sum of a vector register's lanes and of the `rest` floats its loop left over.
inline double total_of(const float* lanes, int count, const float* rest, std::size_t n) {
    double total = 0;
    for (int k = 0; k < count; ++k)
        total += lanes[k];
    for (std::size_t k = 0; k < n; ++k)
        total += rest[k];
    return total;
}

// Sums floats with four AVX2 accumulators, fast enough that memory, not the additions,
// sets the pace.
__attribute__((target("avx2"))) inline double sum_avx2(const float* p, std::size_t n) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24));
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    return total_of(lanes, 8, p + i, n - i);
}

// The same with AVX-512, with or without asking for each cache line 16 KB ahead. Which
// reads faster depends on the CPU: prefetching read faster on the Xeon these benchmarks
// were first written on, and 0.6-0.67 as fast as without it on Zen 5 (two threads over
// 1 GiB on huge pages, 31 against 47-51 GB/s).
template <bool Prefetch> __attribute__((target("avx512f"))) inline double sum_avx512(const float* p, std::size_t n) {
    __m512 a = _mm512_setzero_ps(), b = a;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if constexpr (Prefetch) {
            _mm_prefetch(reinterpret_cast<const char*>(p + i + 4096), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(p + i + 4096 + 16), _MM_HINT_T0);
        }
        a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(p + i + 16));
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(a, b));
    return total_of(lanes, 16, p + i, n - i);
}

inline double sum_plain(const float* p, std::size_t n) {
    float acc[16] = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; ++k)
            acc[k] += p[i + static_cast<std::size_t>(k)];
    }
    return total_of(acc, 16, p + i, n - i);
}

// One way of reading memory: a sum over n floats from p.
struct ReadKernel {
    const char* name;
    double (*sum)(const float* p, std::size_t n);
};

// Every sum this CPU runs, whatever level the kernels are capped at (the bounds are the
// machine's): a bound takes the best of them, since none reads fastest everywhere.
inline std::vector<ReadKernel> read_kernels() {
    std::vector<ReadKernel> kernels;
    if (__builtin_cpu_supports("avx512f")) {
        kernels.push_back({"avx512", sum_avx512<false>});
        kernels.push_back({"avx512_prefetched", sum_avx512<true>});
    }
    if (__builtin_cpu_supports("avx2")) kernels.push_back({"avx2", sum_avx2});
    if (kernels.empty()) kernels.push_back({"plain", sum_plain});
    return kernels;
}

} // namespace hookscope::bench
