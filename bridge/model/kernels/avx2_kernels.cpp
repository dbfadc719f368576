// The AVX2 + FMA level of the one-position products (vector_levels.h).
#include "bridge/model/kernels/vector_levels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/portable_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <stdexcept>

namespace hookscope::kernels {

#if defined(__x86_64__)
// Four rows of w at a time into the y[c0, c1) slice, which stays in L1.
__attribute__((target("avx2,fma"))) void in_out_avx2(const float* w, int64_t in, int64_t out, const float* x, float* y,
                                                     int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 8 * 8;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]);
        const __m256 x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);
        const float* r0 = w + i * out;
        const float* r1 = r0 + out;
        const float* r2 = r1 + out;
        const float* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        for (int64_t j = c0; j < vector_end; j += 8) {
            // The next row group, one prefetch per row and cache line (as the AVX-512 kernels).
            if (ahead && (j - c0) % 16 == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(r0 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r1 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r2 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r3 + 4 * out + j), _MM_HINT_T0);
            }
            __m256 acc = _mm256_loadu_ps(y + j);
            acc = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r0 + j), acc);
            acc = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r1 + j), acc);
            acc = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r2 + j), acc);
            acc = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r3 + j), acc);
            _mm256_storeu_ps(y + j, acc);
        }
        for (int64_t j = vector_end; j < c1; ++j)
            y[j] += x[i] * r0[j] + x[i + 1] * r1[j] + x[i + 2] * r2[j] + x[i + 3] * r3[j];
    }
    for (; i < in; ++i) {
        const float* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += x[i] * row[j];
    }
}

namespace {
__attribute__((target("avx2,fma"))) float horizontal_sum(__m256 v) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
}
} // namespace

// Four rows at a time, each a dot product with x (which stays in L1), prefetching as
// rows_avx512 does.
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                   int64_t r1) {
    const int64_t vector_end = cols / 8 * 8;
    const bool l2 = prefetch_into_l2_too(); // the group after next into L2 (see rows_avx512)
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        __m256 sa = _mm256_setzero_ps(), sb = _mm256_setzero_ps(), sc = _mm256_setzero_ps(), sd = _mm256_setzero_ps();
        const bool ahead = r + 8 <= r1;
        const bool further = l2 && r + 12 <= r1;
        for (int64_t k = 0; k < vector_end; k += 8) {
            if (ahead && k % 16 == 0) { // the next four rows, a cache line each every 16 values
                _mm_prefetch(reinterpret_cast<const char*>(a + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(c + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(d + 4 * cols + k), _MM_HINT_T0);
            }
            if (further && k % 16 == 0) {
                for (int64_t q = 8; q < 12; ++q)
                    _mm_prefetch(reinterpret_cast<const char*>(a + q * cols + k), _MM_HINT_T1);
            }
            const __m256 xv = _mm256_loadu_ps(x + k);
            sa = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), xv, sa);
            sb = _mm256_fmadd_ps(_mm256_loadu_ps(b + k), xv, sb);
            sc = _mm256_fmadd_ps(_mm256_loadu_ps(c + k), xv, sc);
            sd = _mm256_fmadd_ps(_mm256_loadu_ps(d + k), xv, sd);
        }
        float ta = horizontal_sum(sa), tb = horizontal_sum(sb), tc = horizontal_sum(sc), td = horizontal_sum(sd);
        for (int64_t k = vector_end; k < cols; ++k) {
            ta += a[k] * x[k];
            tb += b[k] * x[k];
            tc += c[k] * x[k];
            td += d[k] * x[k];
        }
        y[r] += ta;
        y[r + 1] += tb;
        y[r + 2] += tc;
        y[r + 3] += td;
    }
    if (r < r1) portable::rows(w, cols, x, y, r, r1);
}

// bfloat16 weights with AVX2, 16 at a time in "paired" order: one 32-byte load holds
// eight pairs of bfloat16 values, each pair one 32-bit lane; shifting a lane left by 16
// gives the even value of its pair as a float32, masking off the low half gives the odd
// one. Two instructions widen 16 values, against four for widening 8 twice, and the
// values leave the load in the order (0, 2, .., 14), (1, 3, .., 15): the vectors they
// meet (x for dot products, the running sums for the in-out layout) are kept in that
// order too, per block of 16, see to_paired. The in-out layout takes 8 rows a step (the
// running sums are loaded and stored once per 8 rows); on Zen 3 that and the cheaper
// widening read GPT-2's bfloat16 blocks 5-10% faster than 8-wide widening over 4 rows.

namespace {
__attribute__((target("avx2,fma"))) __m256 even_values(__m256i pairs) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
}
__attribute__((target("avx2,fma"))) __m256 odd_values(__m256i pairs) {
    return _mm256_castsi256_ps(_mm256_and_si256(pairs, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}
__attribute__((target("avx2,fma"))) __m256i load_pairs(const uint16_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// y (paired up to blocks_end, natural after) += sum over Rows rows t of x[t] * w[t, :];
// with `ahead`, the Rows rows after the next Rows are prefetched, a cache line per row
// every other step (two groups ahead measured 5% faster than one on Zen 3).
template <int Rows>
__attribute__((target("avx2,fma"))) void in_out_bf16_step_avx2(const uint16_t* w, int64_t out, int64_t blocks_end,
                                                               const float* x, float* y, bool ahead) {
    __m256 xs[Rows];
    for (int t = 0; t < Rows; ++t)
        xs[t] = _mm256_set1_ps(x[t]);
    for (int64_t j = 0; j < blocks_end; j += kPairBlock) {
        if (ahead && j % 32 == 0) {
            for (int t = 0; t < Rows; ++t)
                _mm_prefetch(reinterpret_cast<const char*>(w + (2 * Rows + t) * out + j), _MM_HINT_T0);
        }
        __m256 even = _mm256_loadu_ps(y + j), odd = _mm256_loadu_ps(y + j + 8);
        for (int t = 0; t < Rows; ++t) {
            const __m256i pairs = load_pairs(w + t * out + j);
            even = _mm256_fmadd_ps(xs[t], even_values(pairs), even);
            odd = _mm256_fmadd_ps(xs[t], odd_values(pairs), odd);
        }
        _mm256_storeu_ps(y + j, even);
        _mm256_storeu_ps(y + j + 8, odd);
    }
    for (int64_t j = blocks_end; j < out; ++j) {
        for (int t = 0; t < Rows; ++t)
            y[j] += x[t] * bf16_to_float(w[t * out + j]);
    }
}
} // namespace

// y += x · w for w [in, out] in bfloat16, y in paired order (to_paired) over its whole
// blocks of 16.
__attribute__((target("avx2,fma"))) void in_out_bf16_avx2(const uint16_t* w, int64_t in, int64_t out, const float* x,
                                                          float* y) {
    const int64_t blocks_end = out / kPairBlock * kPairBlock;
    int64_t i = 0;
    for (; i + 8 <= in; i += 8)
        in_out_bf16_step_avx2<8>(w + i * out, out, blocks_end, x + i, y, i + 24 <= in);
    for (; i < in; ++i)
        in_out_bf16_step_avx2<1>(w + i * out, out, blocks_end, x + i, y, false);
}

namespace {
// y[0] += w[0, :] · x for one row, x_paired being x in paired order over its whole
// blocks. Rows are read one at a time, the matrix as one sequential stream, each step
// asking for the cache line kStreamPrefetchValues ahead (into the next rows near a row's
// end; a prefetch past the matrix is harmless), and with `l2` (prefetch_into_l2_too,
// asked once per call of rows_bf16_avx2) kL2PrefetchBytes ahead into L2. On Zen 3 that
// read GPT-2's and the 1B shape's unembeddings (1.5 and 4 KB rows) at 0.9-1.0 of the
// bandwidth probe's rate, against 0.7-0.9 for four rows side by side or for prefetching
// the next row at the same offset.
constexpr int64_t kDotPrefetchValues = kStreamPrefetchValues;

__attribute__((target("avx2,fma"))) void dot_bf16_avx2(const uint16_t* w, int64_t cols, const float* x,
                                                       const float* x_paired, float* y, bool l2) {
    const int64_t blocks_end = cols / kPairBlock * kPairBlock;
    __m256 even = _mm256_setzero_ps(), odd = even, even2 = even, odd2 = even;
    int64_t k = 0;
    for (; k + 2 * kPairBlock <= blocks_end; k += 2 * kPairBlock) { // a cache line a step
        _mm_prefetch(address_past(w + k, kDotPrefetchValues), _MM_HINT_T0);
        if (l2) prefetch_into_l2(w + k);
        const __m256i pairs = load_pairs(w + k), pairs2 = load_pairs(w + k + kPairBlock);
        even = _mm256_fmadd_ps(even_values(pairs), _mm256_loadu_ps(x_paired + k), even);
        odd = _mm256_fmadd_ps(odd_values(pairs), _mm256_loadu_ps(x_paired + k + 8), odd);
        even2 = _mm256_fmadd_ps(even_values(pairs2), _mm256_loadu_ps(x_paired + k + 16), even2);
        odd2 = _mm256_fmadd_ps(odd_values(pairs2), _mm256_loadu_ps(x_paired + k + 24), odd2);
    }
    if (k < blocks_end) {
        const __m256i pairs = load_pairs(w + k);
        even = _mm256_fmadd_ps(even_values(pairs), _mm256_loadu_ps(x_paired + k), even);
        odd = _mm256_fmadd_ps(odd_values(pairs), _mm256_loadu_ps(x_paired + k + 8), odd);
    }
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(even, odd), _mm256_add_ps(even2, odd2)));
    for (k = blocks_end; k < cols; ++k)
        sum += bf16_to_float(w[k]) * x[k];
    y[0] += sum;
}
} // namespace

__attribute__((target("avx2,fma"))) void rows_bf16_avx2(const uint16_t* w, int64_t cols, const float* x,
                                                        const float* x_paired, float* y, int64_t r0, int64_t r1) {
    const bool l2 = prefetch_into_l2_too();
    for (int64_t r = r0; r < r1; ++r)
        dot_bf16_avx2(w + r * cols, cols, x, x_paired, y + r, l2);
}

// Panels (kernels.h): one 32-byte load is a half panel's 16 columns, its even halves
// columns 0-7 and its odd halves 8-15; four sums of 8 stay in registers over every input.
__attribute__((target("avx2,fma"))) void panels_bf16_avx2(const uint16_t* packed, int64_t in, const float* x,
                                                          const float* bias, float* y, int64_t p0, int64_t p1) {
    const bool l2 = prefetch_into_l2_too();
    for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* panel = packed + p * in * kPanelColumns;
        __m256 low0 = _mm256_setzero_ps(), high0 = low0, low1 = low0, high1 = low0;
        for (int64_t k = 0; k < in; ++k) {
            const uint16_t* row = panel + k * kPanelColumns;
            _mm_prefetch(address_past(row, kStreamPrefetchValues), _MM_HINT_T0);
            if (l2) prefetch_into_l2(row);
            const __m256 xk = _mm256_set1_ps(x[k]);
            const __m256i first = load_pairs(row), second = load_pairs(row + kPairBlock);
            low0 = _mm256_fmadd_ps(xk, even_values(first), low0);
            high0 = _mm256_fmadd_ps(xk, odd_values(first), high0);
            low1 = _mm256_fmadd_ps(xk, even_values(second), low1);
            high1 = _mm256_fmadd_ps(xk, odd_values(second), high1);
        }
        float* out = y + p * kPanelColumns;
        _mm256_storeu_ps(out, low0);
        _mm256_storeu_ps(out + 8, high0);
        _mm256_storeu_ps(out + 16, low1);
        _mm256_storeu_ps(out + 24, high1);
        if (bias) {
            for (int64_t j = 0; j < kPanelColumns; ++j)
                out[j] += bias[p * kPanelColumns + j];
        }
    }
}

namespace {
// Float32 panels: four sums of 8 per panel, two rows a step into two sets of sums
// (added at the end), so that each sum waits on one fused multiply-add every other row.
// With `Prefetch`, each step asks for the lines 4 KB ahead (into the next panel near a
// panel's end).
template <bool Prefetch>
__attribute__((target("avx2,fma"))) void panels_f32_avx2(const float* packed, int64_t in, const float* x,
                                                         const float* bias, float* y, int64_t p0, int64_t p1) {
    constexpr int kVectors = kPanelColumns / 8;
    constexpr int64_t kAheadValues = 1024; // 4 KB
    const bool l2 = prefetch_into_l2_too();
    for (int64_t p = p0; p < p1; ++p) {
        const float* panel = packed + p * in * kPanelColumns;
        __m256 sums[kVectors], odd[kVectors];
        for (int v = 0; v < kVectors; ++v)
            sums[v] = odd[v] = _mm256_setzero_ps();
        int64_t k = 0;
        for (; k + 2 <= in; k += 2) {
            const float* row = panel + k * kPanelColumns;
            if constexpr (Prefetch) { // two rows: four cache lines of 16 floats
                for (int64_t line = 0; line < 4; ++line)
                    _mm_prefetch(address_past(row, kAheadValues + 16 * line), _MM_HINT_T0);
            }
            if (l2) {
                for (int64_t line = 0; line < 4; ++line)
                    prefetch_into_l2(row + 16 * line);
            }
            const __m256 x0 = _mm256_set1_ps(x[k]), x1 = _mm256_set1_ps(x[k + 1]);
            for (int v = 0; v < kVectors; ++v) {
                sums[v] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(row + 8 * v), sums[v]);
                odd[v] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(row + kPanelColumns + 8 * v), odd[v]);
            }
        }
        if (k < in) {
            const float* row = panel + k * kPanelColumns;
            const __m256 x0 = _mm256_set1_ps(x[k]);
            for (int v = 0; v < kVectors; ++v)
                sums[v] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(row + 8 * v), sums[v]);
        }
        float* out = y + p * kPanelColumns;
        for (int v = 0; v < kVectors; ++v) {
            __m256 total = _mm256_add_ps(sums[v], odd[v]);
            if (bias) total = _mm256_add_ps(total, _mm256_loadu_ps(bias + p * kPanelColumns + 8 * v));
            _mm256_storeu_ps(out + 8 * v, total);
        }
    }
}
} // namespace

// Prefetched where prefetch_panels_far says: on Zen 5 GPT-2's block matrices read
// 0.95-0.97 of a plain sum of the same bytes with it and 0.85-0.87 without
// (microbenchmark, same threads and split, rotating order, two runs of 30 steps), and
// GPT-2 small decoded a median 6% faster under the AVX2 cap (five alternating pairs of
// runs), as fast at the AVX-512 level.
void panels_avx2(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1) {
    (prefetch_panels_far() ? panels_f32_avx2<true> : panels_f32_avx2<false>)(packed, in, x, bias, y, p0, p1);
}

#else
// Other processors: cpu_level() never picks this level; the portable loops stand in, and the
// paired bfloat16 loops, which nothing else computes, refuse.
void in_out_bf16_avx2(const uint16_t*, int64_t, int64_t, const float*, float*) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void rows_bf16_avx2(const uint16_t*, int64_t, const float*, const float*, float*, int64_t, int64_t) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void panels_bf16_avx2(const uint16_t*, int64_t, const float*, const float*, float*, int64_t, int64_t) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void in_out_avx2(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out(w, in, out, x, y, c0, c1);
}
void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows(w, cols, x, y, r0, r1);
}
void panels_avx2(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1) {
    portable::panels(packed, in, x, bias, y, p0, p1);
}
#endif

} // namespace hookscope::kernels
