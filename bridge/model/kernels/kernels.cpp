#include "bridge/model/kernels/kernels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/portable_kernels.h"
#include "bridge/model/kernels/spin_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace hookscope::kernels {
namespace {

SpinPool& pool() {
    return SpinPool::instance();
}

// [begin, end) of part k of n split into `parts`, boundaries on multiples of `align`.
std::pair<int64_t, int64_t> share(int64_t n, int parts, int k, int64_t align) {
    const int64_t units = (n + align - 1) / align;
    const int64_t begin = std::min(n, units * k / parts * align);
    const int64_t end = std::min(n, units * (k + 1) / parts * align);
    return {begin, end};
}

// Runs part(begin, end) over [0, n) on the pool's threads in chunks of `chunk` (a
// multiple of what the kernels take at a time; the last may be shorter), shared and
// taken over as SpinPool::run_chunks says.
template <class Part> void run_balanced(int64_t n, int64_t chunk, const Part& part) {
    while ((n + chunk - 1) / chunk > int64_t{0xFFFFFFFF})
        chunk *= 2;
    pool().run_chunks((n + chunk - 1) / chunk, {}, [&](int64_t c) { part(c * chunk, std::min(n, (c + 1) * chunk)); });
}

// Units per chunk for run_balanced, a multiple of `align`: a sixteenth of a thread's
// share, enough to even out threads that read at different speeds, and at least 64 KB
// of weights. Each chunk is a fresh kernel call whose prefetching starts over: 64 KB
// chunks of a 1B Llama's 8 KB rows decoded 5-7% slower with the vector kernels and up
// to 25% slower with the portable ones than chunks of a sixteenth of a share.
int64_t chunk_of(int64_t n, int64_t unit_bytes, int64_t align) {
    constexpr int64_t kChunksPerShare = 16;
    const int64_t least = std::max<int64_t>(1, (64 << 10) / std::max<int64_t>(1, unit_bytes));
    const int64_t units = std::max(least, n / (int64_t{pool().size()} * kChunksPerShare));
    return (units + align - 1) / align * align;
}

#if defined(__x86_64__)
// ---- AVX2 + FMA --------------------------------------------------------------------

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

__attribute__((target("avx2,fma"))) float horizontal_sum(__m256 v) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
}

// Four rows at a time, each a dot product with x (which stays in L1).
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                   int64_t r1) {
    const int64_t vector_end = cols / 8 * 8;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        __m256 sa = _mm256_setzero_ps(), sb = _mm256_setzero_ps(), sc = _mm256_setzero_ps(), sd = _mm256_setzero_ps();
        const bool ahead = r + 8 <= r1;
        for (int64_t k = 0; k < vector_end; k += 8) {
            if (ahead && k % 16 == 0) { // the next four rows, a cache line each every 16 values
                _mm_prefetch(reinterpret_cast<const char*>(a + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(c + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(d + 4 * cols + k), _MM_HINT_T0);
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

// y[0] += w[0, :] · x for one row, x_paired being x in paired order over its whole
// blocks. Rows are read one at a time, the matrix as one sequential stream, each step
// asking for the cache line kStreamPrefetchValues ahead (into the next rows near a row's
// end; a prefetch past the matrix is harmless). On Zen 3 that read GPT-2's and the 1B
// shape's unembeddings (1.5 and 4 KB rows) at 0.9-1.0 of the bandwidth probe's rate,
// against 0.7-0.9 for four rows side by side or for prefetching the next row at the same
// offset.
constexpr int64_t kDotPrefetchValues = kStreamPrefetchValues;

__attribute__((target("avx2,fma"))) void dot_bf16_avx2(const uint16_t* w, int64_t cols, const float* x,
                                                       const float* x_paired, float* y) {
    const int64_t blocks_end = cols / kPairBlock * kPairBlock;
    __m256 even = _mm256_setzero_ps(), odd = even, even2 = even, odd2 = even;
    int64_t k = 0;
    for (; k + 2 * kPairBlock <= blocks_end; k += 2 * kPairBlock) { // a cache line a step
        _mm_prefetch(address_past(w + k, kDotPrefetchValues), _MM_HINT_T0);
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

__attribute__((target("avx2,fma"))) void rows_bf16_avx2(const uint16_t* w, int64_t cols, const float* x,
                                                        const float* x_paired, float* y, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
        dot_bf16_avx2(w + r * cols, cols, x, x_paired, y + r);
}

// Panels (kernels.h): one 32-byte load is a half panel's 16 columns, its even halves
// columns 0-7 and its odd halves 8-15; four sums of 8 stay in registers over every input.
__attribute__((target("avx2,fma"))) void panels_bf16_avx2(const uint16_t* packed, int64_t in, const float* x,
                                                          const float* bias, float* y, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* panel = packed + p * in * kPanelColumns;
        __m256 low0 = _mm256_setzero_ps(), high0 = low0, low1 = low0, high1 = low0;
        for (int64_t k = 0; k < in; ++k) {
            const uint16_t* row = panel + k * kPanelColumns;
            _mm_prefetch(address_past(row, kStreamPrefetchValues), _MM_HINT_T0);
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

// Float32 panels: four sums of 8 per panel, two rows a step into two sets of sums
// (added at the end), so that each sum waits on one fused multiply-add every other row.
// The hardware prefetchers follow the stream alone: with a linear software prefetch,
// a microbenchmark over GPT-2's block shapes read them 5-20% slower on Zen 3.
__attribute__((target("avx2,fma"))) void panels_avx2(const float* packed, int64_t in, const float* x, const float* bias,
                                                     float* y, int64_t p0, int64_t p1) {
    constexpr int kVectors = kPanelColumns / 8;
    for (int64_t p = p0; p < p1; ++p) {
        const float* panel = packed + p * in * kPanelColumns;
        __m256 sums[kVectors], odd[kVectors];
        for (int v = 0; v < kVectors; ++v)
            sums[v] = odd[v] = _mm256_setzero_ps();
        int64_t k = 0;
        for (; k + 2 <= in; k += 2) {
            const float* row = panel + k * kPanelColumns;
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

// ---- AVX-512 -----------------------------------------------------------------------
// As the AVX2 versions, 16 floats a step, and each row group prefetches the next one's
// data: two cores' worth of hardware prefetching leaves bandwidth unused.

__attribute__((target("avx512f"))) void in_out_avx512(const float* w, int64_t in, int64_t out, const float* x, float* y,
                                                      int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 16 * 16;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
        const __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
        const float* r0 = w + i * out;
        const float* r1 = r0 + out;
        const float* r2 = r1 + out;
        const float* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        for (int64_t j = c0; j < vector_end; j += 16) {
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(r0 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r1 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r2 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r3 + 4 * out + j), _MM_HINT_T0);
            }
            __m512 acc = _mm512_loadu_ps(y + j);
            acc = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r0 + j), acc);
            acc = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r1 + j), acc);
            acc = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r2 + j), acc);
            acc = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r3 + j), acc);
            _mm512_storeu_ps(y + j, acc);
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

__attribute__((target("avx512f"))) float lane_sum(__m512 v) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    float total = 0;
    for (const float lane : lanes)
        total += lane;
    return total;
}

__attribute__((target("avx512f"))) void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                    int64_t r1) {
    const int64_t vector_end = cols / 16 * 16;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        const bool ahead = r + 8 <= r1;
        __m512 sa = _mm512_setzero_ps(), sb = _mm512_setzero_ps(), sc = _mm512_setzero_ps(), sd = _mm512_setzero_ps();
        for (int64_t k = 0; k < vector_end; k += 16) {
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(a + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(c + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(d + 4 * cols + k), _MM_HINT_T0);
            }
            const __m512 xv = _mm512_loadu_ps(x + k);
            sa = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), xv, sa);
            sb = _mm512_fmadd_ps(_mm512_loadu_ps(b + k), xv, sb);
            sc = _mm512_fmadd_ps(_mm512_loadu_ps(c + k), xv, sc);
            sd = _mm512_fmadd_ps(_mm512_loadu_ps(d + k), xv, sd);
        }
        float ta = lane_sum(sa), tb = lane_sum(sb), tc = lane_sum(sc), td = lane_sum(sd);
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

// A bfloat16 is the top half of a float32: 16 weights widened per instruction pair.
__attribute__((target("avx512f"))) __m512 widen_bf16(const uint16_t* p) {
    // The zero-masked forms: GCC 12 warns about the unmasked ones' undefined operand.
    const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
}

// bfloat16 rows: one row at a time over four sums of 16 (two cache lines a step), the
// matrix read as one sequential stream with each line asked for kStreamPrefetchValues
// ahead, as the AVX2 and SSE2 row kernels do. Two rows side by side over a sum each
// (each step waiting on the last step's fused multiply-adds) read one 1B Llama decode
// step's products 0-8% slower on Zen 5, two threads alternating in one process.
__attribute__((target("avx512f"))) void rows_bf16_avx512(const uint16_t* w, int64_t cols, const float* x, float* y,
                                                         int64_t r0, int64_t r1) {
    const int64_t vector_end = cols / 16 * 16;
    for (int64_t r = r0; r < r1; ++r) {
        const uint16_t* a = w + r * cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int64_t k = 0;
        for (; k + 64 <= vector_end; k += 64) {
            _mm_prefetch(address_past(a + k, kStreamPrefetchValues), _MM_HINT_T0);
            _mm_prefetch(address_past(a + k + 32, kStreamPrefetchValues), _MM_HINT_T0);
            s0 = _mm512_fmadd_ps(widen_bf16(a + k), _mm512_loadu_ps(x + k), s0);
            s1 = _mm512_fmadd_ps(widen_bf16(a + k + 16), _mm512_loadu_ps(x + k + 16), s1);
            s2 = _mm512_fmadd_ps(widen_bf16(a + k + 32), _mm512_loadu_ps(x + k + 32), s2);
            s3 = _mm512_fmadd_ps(widen_bf16(a + k + 48), _mm512_loadu_ps(x + k + 48), s3);
        }
        for (; k < vector_end; k += 16)
            s0 = _mm512_fmadd_ps(widen_bf16(a + k), _mm512_loadu_ps(x + k), s0);
        float sum = lane_sum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
        for (; k < cols; ++k)
            sum += bf16_to_float(a[k]) * x[k];
        y[r] += sum;
    }
}

// The in-out layout in bfloat16: as in_out_avx512, four rows at a time, prefetching the
// next four.
__attribute__((target("avx512f"))) void in_out_bf16_avx512(const uint16_t* w, int64_t in, int64_t out, const float* x,
                                                           float* y, int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 16 * 16;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
        const __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
        const uint16_t* r0 = w + i * out;
        const uint16_t* r1 = r0 + out;
        const uint16_t* r2 = r1 + out;
        const uint16_t* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        for (int64_t j = c0; j < vector_end; j += 16) {
            // 32 bytes of each row a step: one prefetch per row every other step covers it.
            if (ahead && (j - c0) % 32 == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(r0 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r1 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r2 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r3 + 4 * out + j), _MM_HINT_T0);
            }
            __m512 acc = _mm512_loadu_ps(y + j);
            acc = _mm512_fmadd_ps(x0, widen_bf16(r0 + j), acc);
            acc = _mm512_fmadd_ps(x1, widen_bf16(r1 + j), acc);
            acc = _mm512_fmadd_ps(x2, widen_bf16(r2 + j), acc);
            acc = _mm512_fmadd_ps(x3, widen_bf16(r3 + j), acc);
            _mm512_storeu_ps(y + j, acc);
        }
        for (int64_t j = vector_end; j < c1; ++j)
            y[j] += x[i] * bf16_to_float(r0[j]) + x[i + 1] * bf16_to_float(r1[j]) + x[i + 2] * bf16_to_float(r2[j]) +
                    x[i + 3] * bf16_to_float(r3[j]);
    }
    if (i < in) portable::in_out_bf16(w + i * out, in - i, out, x + i, y, c0, c1);
}

#else
// Other processors: cpu_level() never picks these levels; the portable loops stand in,
// and the paired bfloat16 kernels, which nothing else computes, refuse.
void in_out_bf16_avx2(const uint16_t*, int64_t, int64_t, const float*, float*) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void rows_bf16_avx2(const uint16_t*, int64_t, const float*, const float*, float*, int64_t, int64_t) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void panels_bf16_avx2(const uint16_t*, int64_t, const float*, const float*, float*, int64_t, int64_t) {
    throw std::logic_error("AVX2 kernels on a processor without them");
}
void in_out_bf16_avx512(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out_bf16(w, in, out, x, y, c0, c1);
}
void rows_bf16_avx512(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows_bf16(w, cols, x, x, y, r0, r1);
}
void in_out_avx2(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out(w, in, out, x, y, c0, c1);
}
void in_out_avx512(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out(w, in, out, x, y, c0, c1);
}
void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows(w, cols, x, y, r0, r1);
}
void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows(w, cols, x, y, r0, r1);
}
void panels_avx2(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1) {
    portable::panels(packed, in, x, bias, y, p0, p1);
}
#endif

// One head: scores over the cached keys, softmax, weighted sum of the values.
void attend_head(const float* q, const float* keys, const float* values, int64_t d_head, int64_t length, float scale,
                 float* scores, float* z, bool avx2) {
    std::fill(scores, scores + length, 0.0f);
    if (avx2) {
        rows_avx2(keys, d_head, q, scores, 0, length);
    } else {
        portable::rows(keys, d_head, q, scores, 0, length);
    }
    for (int64_t t = 0; t < length; ++t)
        scores[t] *= scale;
    softmax_row(scores, length, scores);
    std::fill(z, z + d_head, 0.0f);
    if (avx2) {
        in_out_avx2(values, length, d_head, scores, z, 0, d_head);
    } else {
        portable::in_out(values, length, d_head, scores, z, 0, d_head);
    }
}

void start_with_bias(float* y, const float* bias, int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
        y[j] = bias ? bias[j] : 0.0f;
}

// The paired order of the AVX2 and SSE2 bfloat16 kernels: in each whole block of 16 values, the
// 8 at even offsets and then the 8 at odd ones; values after the last whole block stay.
void to_paired(const float* natural, int64_t n, float* paired) {
    const int64_t blocks_end = n / kPairBlock * kPairBlock;
    for (int64_t b = 0; b < blocks_end; b += kPairBlock) {
        for (int64_t t = 0; t < kPairBlock / 2; ++t) {
            paired[b + t] = natural[b + 2 * t];
            paired[b + kPairBlock / 2 + t] = natural[b + 2 * t + 1];
        }
    }
    std::copy(natural + blocks_end, natural + n, paired + blocks_end);
}

// y from paired to natural order in place, plus bias (which may be null).
void from_paired_plus_bias(float* y, int64_t n, const float* bias) {
    const int64_t blocks_end = n / kPairBlock * kPairBlock;
    for (int64_t b = 0; b < blocks_end; b += kPairBlock) {
        float block[kPairBlock];
        std::copy(y + b, y + b + kPairBlock, block);
        for (int64_t t = 0; t < kPairBlock / 2; ++t) {
            y[b + 2 * t] = block[t];
            y[b + 2 * t + 1] = block[kPairBlock / 2 + t];
        }
    }
    if (bias) {
        for (int64_t j = 0; j < n; ++j)
            y[j] += bias[j];
    }
}

// The in-out layout split across threads by input rows: each thread streams one
// contiguous range of the weights (splitting the columns instead leaves every thread
// reading half-rows, which the hardware prefetchers follow less well: 21 against 26 GB/s
// for GPT-2's bfloat16 blocks), summing into y (the first) or a partial of its own,
// and the partials are added to y at the end. `part(i0, i1, target)` accumulates rows
// [i0, i1) into target[0, out). The ranges are fixed (not run_balanced), so that which
// rows a partial sums, and so the result's rounding, never depends on timing. With
// `paired`, the parts sum in paired order (to_paired), and y is put back in order at the end.
template <class Part>
void split_input_rows(int64_t in, int64_t out, const float* bias, float* y, bool paired, const Part& part) {
    thread_local std::vector<float> caller_partials;
    const int threads = pool().size();
    caller_partials.resize(static_cast<std::size_t>(std::max(0, threads - 1) * out));
    // The workers see the caller's buffer through this pointer (a thread_local named
    // inside the lambda would be each worker's own).
    float* const partials = caller_partials.data();
    int used = 1;
    pool().run([&](int k, int parts) {
        // Row boundaries on multiples of 8, the largest row group the kernels take at a time.
        const auto [i0, i1] = share(in, parts, k, 8);
        float* target = y;
        if (k == 0) {
            start_with_bias(y, paired ? nullptr : bias, 0, out);
        } else {
            if (k > threads - 1) throw std::logic_error("kernel threads changed during a product");
            target = partials + (k - 1) * out;
            std::fill(target, target + out, 0.0f);
            if (k == parts - 1) used = parts; // written by one thread, read after the run
        }
        if (i0 < i1) part(i0, i1, target);
    });
    for (int t = 1; t < used; ++t) {
        const float* partial = partials + (t - 1) * out;
        for (int64_t j = 0; j < out; ++j)
            y[j] += partial[j];
    }
    if (paired) from_paired_plus_bias(y, out, bias);
}

} // namespace

void gemv_in_out(const float* w, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    const Level l = level();
    split_input_rows(in, out, bias, y, /*paired=*/false, [&](int64_t i0, int64_t i1, float* target) {
        switch (l) {
        case Level::Avx512: in_out_avx512(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Avx2: in_out_avx2(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Portable: portable::in_out(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        }
    });
}

void gemv_rows(const float* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y) {
    const Level l = level();
    run_balanced(rows, chunk_of(rows, cols * int64_t{sizeof(float)}, 4), [&](int64_t r0, int64_t r1) {
        start_with_bias(y, bias, r0, r1);
        switch (l) {
        case Level::Avx512: rows_avx512(w, cols, x, y, r0, r1); break;
        case Level::Avx2: rows_avx2(w, cols, x, y, r0, r1); break;
        case Level::Portable: portable::rows(w, cols, x, y, r0, r1); break;
        }
    });
}

void gemv_in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    const Level l = level();
    split_input_rows(in, out, bias, y, /*paired=*/l == Level::Avx2, [&](int64_t i0, int64_t i1, float* target) {
        switch (l) {
        case Level::Avx512: in_out_bf16_avx512(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Avx2: in_out_bf16_avx2(w + i0 * out, i1 - i0, out, x + i0, target); break;
        case Level::Portable: portable::in_out_bf16(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        }
    });
}

void gemv_rows_bf16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y) {
    const Level l = level();
    thread_local std::vector<float> caller_x_paired;
    if (l != Level::Avx512) { // the AVX2 and SSE2 loops take x in paired order
        caller_x_paired.resize(static_cast<std::size_t>(cols));
        to_paired(x, cols, caller_x_paired.data());
    }
    const float* const x_paired = caller_x_paired.data(); // the caller's, seen by the workers
    run_balanced(rows, chunk_of(rows, cols * int64_t{sizeof(uint16_t)}, 4), [&](int64_t r0, int64_t r1) {
        start_with_bias(y, bias, r0, r1);
        switch (l) {
        case Level::Avx512: rows_bf16_avx512(w, cols, x, y, r0, r1); break;
        case Level::Avx2: rows_bf16_avx2(w, cols, x, x_paired, y, r0, r1); break;
        case Level::Portable: portable::rows_bf16(w, cols, x, x_paired, y, r0, r1); break;
        }
    });
}

namespace {
// packed[p, k, s] = w[k, 32p + column(s)], or the reverse with `unpack`.
template <class T, class Column>
void move_panels(const T* from, int64_t in, int64_t out, T* to, bool unpack, Column column) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    for (int64_t p = 0; p < out / kPanelColumns; ++p) {
        for (int64_t k = 0; k < in; ++k) {
            for (int64_t s = 0; s < kPanelColumns; ++s) {
                const int64_t packed = (p * in + k) * kPanelColumns + s;
                const int64_t natural = k * out + p * kPanelColumns + column(s);
                to[unpack ? natural : packed] = from[unpack ? packed : natural];
            }
        }
    }
}
constexpr int64_t same_column(int64_t s) {
    return s;
}
} // namespace

void pack_panels_bf16(const uint16_t* w, int64_t in, int64_t out, uint16_t* packed) {
    move_panels(w, in, out, packed, /*unpack=*/false, panel_column);
}

void unpack_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, uint16_t* w) {
    move_panels(packed, in, out, w, /*unpack=*/true, panel_column);
}

void pack_panels(const float* w, int64_t in, int64_t out, float* packed) {
    move_panels(w, in, out, packed, /*unpack=*/false, same_column);
}

void unpack_panels(const float* packed, int64_t in, int64_t out, float* w) {
    move_panels(packed, in, out, w, /*unpack=*/true, same_column);
}

namespace {
// A one-position product over panels of either type: whole panels per chunk, no partial
// sums to add. AVX-512 processors take the AVX2 kernel: they have AVX2, and the stream,
// not the width, sets the pace.
template <class T, class Kernel>
void gemv_panels_of(const T* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y,
                    Kernel portable_kernel, Kernel vector_kernel) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    const Kernel kernel = level() == Level::Portable ? portable_kernel : vector_kernel;
    const int64_t panel_bytes = in * kPanelColumns * int64_t{sizeof(T)};
    run_balanced(out / kPanelColumns, chunk_of(out / kPanelColumns, panel_bytes, 1),
                 [&](int64_t p0, int64_t p1) { kernel(packed, in, x, bias, y, p0, p1); });
}
} // namespace

void gemv_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    gemv_panels_of(packed, in, out, x, bias, y, &portable::panels_bf16, &panels_bf16_avx2);
}

void gemv_panels(const float* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    gemv_panels_of(packed, in, out, x, bias, y, &portable::panels, &panels_avx2);
}

void widen_bf16(const uint16_t* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst) {
    // On the calling thread: the product that follows runs on the BLAS's threads, and
    // splitting this across the pool measured slower (the two sets of threads contend
    // for the cores). The products only widen this way off x86-64 (kernels.h).
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c)
            dst[r * cols + c] = bf16_to_float(src[r * src_stride + c]);
    }
}

void attend_one(const float* q, const float* keys, const float* values, int64_t heads, int64_t kv_heads, int64_t d_head,
                int64_t capacity, int64_t length, double scale, float* z) {
    const bool avx2 = level() != Level::Portable; // attention rows are short: AVX2 serves
    const int64_t group = heads / kv_heads;
    // Scores for every head at once, allocated before the threads start.
    std::vector<float> scores(static_cast<std::size_t>(heads * length));
    pool().run([&](int k, int parts) {
        const auto [h0, h1] = share(heads, parts, k, 1);
        for (int64_t h = h0; h < h1; ++h) {
            const int64_t kv = h / group;
            attend_head(q + h * d_head, keys + kv * capacity * d_head, values + kv * capacity * d_head, d_head, length,
                        static_cast<float>(scale), scores.data() + h * length, z + h * d_head, avx2);
        }
    });
}

} // namespace hookscope::kernels
