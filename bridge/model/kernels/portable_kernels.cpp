#include "bridge/model/kernels/portable_kernels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/kernels.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include <algorithm>

namespace hookscope::kernels::portable {
namespace {

// Plain C++ written so that compilers vectorise it for the baseline instruction set
// (SSE2 on every x86-64): independent accumulators in fixed-size lanes, since a single
// running sum cannot be reordered into vectors without changing its rounding.

// The next rows' cache lines are asked for one row group ahead (__builtin_prefetch,
// a no-op where the target has no such instruction): the hardware prefetchers alone
// leave bandwidth unused, as the vector levels showed.
template <class Weight> constexpr int64_t kLineValues = 64 / static_cast<int64_t>(sizeof(Weight));

// Four rows of w at a time into y[c0, c1), which stays in L1, a cache line of each row
// per step.
template <class Weight>
void in_out_plain(const Weight* __restrict w, int64_t in, int64_t out, const float* __restrict x, float* __restrict y,
                  int64_t c0, int64_t c1) {
    constexpr int64_t kLine = kLineValues<Weight>;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        const Weight* r0 = w + i * out;
        const Weight* r1 = r0 + out;
        const Weight* r2 = r1 + out;
        const Weight* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        int64_t j = c0;
        for (; j + kLine <= c1; j += kLine) {
            if (ahead) {
                __builtin_prefetch(r0 + 4 * out + j);
                __builtin_prefetch(r1 + 4 * out + j);
                __builtin_prefetch(r2 + 4 * out + j);
                __builtin_prefetch(r3 + 4 * out + j);
            }
            for (int64_t l = 0; l < kLine; ++l) {
                y[j + l] += x0 * to_float(r0[j + l]) + x1 * to_float(r1[j + l]) + x2 * to_float(r2[j + l]) +
                            x3 * to_float(r3[j + l]);
            }
        }
        for (; j < c1; ++j)
            y[j] += x0 * to_float(r0[j]) + x1 * to_float(r1[j]) + x2 * to_float(r2[j]) + x3 * to_float(r3[j]);
    }
    for (; i < in; ++i) {
        const float xi = x[i];
        const Weight* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += xi * to_float(row[j]);
    }
}

// Dot products of `Rows` consecutive rows of w with x, each over eight lanes summed at
// the end; with `ahead`, the next `Rows` rows are prefetched, with `further` the `Rows`
// after those into L2 (see rows_avx512).
template <int Rows, class Weight>
void dot_rows_plain(const Weight* __restrict w, int64_t cols, const float* __restrict x, float* __restrict y,
                    bool ahead, bool further) {
    constexpr int64_t kLanes = 8;
    const int64_t vector_end = cols / kLanes * kLanes;
    float acc[Rows][kLanes] = {};
    for (int64_t k = 0; k < vector_end; k += kLanes) {
        if (ahead && k % kLineValues<Weight> == 0) {
            for (int q = 0; q < Rows; ++q)
                __builtin_prefetch(w + (Rows + q) * cols + k);
            if (further) {
                for (int q = 0; q < Rows; ++q)
                    __builtin_prefetch(w + (2 * Rows + q) * cols + k, 0, 2);
            }
        }
        for (int q = 0; q < Rows; ++q) {
            const Weight* row = w + q * cols + k;
            for (int64_t l = 0; l < kLanes; ++l)
                acc[q][l] += to_float(row[l]) * x[k + l];
        }
    }
    for (int q = 0; q < Rows; ++q) {
        float sum = 0;
        for (int64_t l = 0; l < kLanes; ++l)
            sum += acc[q][l];
        for (int64_t k = vector_end; k < cols; ++k)
            sum += to_float(w[q * cols + k]) * x[k];
        y[q] += sum;
    }
}

template <class Weight>
void rows_plain(const Weight* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    const bool l2 = prefetch_into_l2_too();
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4)
        dot_rows_plain<4>(w + r * cols, cols, x, y + r, r + 8 <= r1, l2 && r + 12 <= r1);
    for (; r < r1; ++r)
        dot_rows_plain<1>(w + r * cols, cols, x, y + r, false, false);
}

#if defined(__x86_64__)
// bfloat16 weights in SSE2.

// Eight bfloat16 values become two vectors of four floats: interleaving zeros below
// each 16-bit value puts it in the top half of a 32-bit lane, which is its float32.
inline void widen8(const uint16_t* p, __m128& low, __m128& high) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i zero = _mm_setzero_si128();
    low = _mm_castsi128_ps(_mm_unpacklo_epi16(zero, v));
    high = _mm_castsi128_ps(_mm_unpackhi_epi16(zero, v));
}

float horizontal_sum(__m128 v) {
    const __m128 pairs = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)));
}
// Four rows of w at a time into y[c0, c1), which stays in L1; the next four rows are
// prefetched a cache line (32 values) per row at a time.
void in_out_bf16_sse2(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 8 * 8;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m128 x0 = _mm_set1_ps(x[i]), x1 = _mm_set1_ps(x[i + 1]);
        const __m128 x2 = _mm_set1_ps(x[i + 2]), x3 = _mm_set1_ps(x[i + 3]);
        const uint16_t* r0 = w + i * out;
        const uint16_t* r1 = r0 + out;
        const uint16_t* r2 = r1 + out;
        const uint16_t* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        for (int64_t j = c0; j < vector_end; j += 8) {
            if (ahead && (j - c0) % 32 == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(r0 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r1 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r2 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r3 + 4 * out + j), _MM_HINT_T0);
            }
            __m128 w0l, w0h, w1l, w1h, w2l, w2h, w3l, w3h;
            widen8(r0 + j, w0l, w0h);
            widen8(r1 + j, w1l, w1h);
            widen8(r2 + j, w2l, w2h);
            widen8(r3 + j, w3l, w3h);
            // Two products summed before the running value: shorter dependency chains.
            const __m128 low = _mm_add_ps(_mm_add_ps(_mm_mul_ps(x0, w0l), _mm_mul_ps(x1, w1l)),
                                          _mm_add_ps(_mm_mul_ps(x2, w2l), _mm_mul_ps(x3, w3l)));
            const __m128 high = _mm_add_ps(_mm_add_ps(_mm_mul_ps(x0, w0h), _mm_mul_ps(x1, w1h)),
                                           _mm_add_ps(_mm_mul_ps(x2, w2h), _mm_mul_ps(x3, w3h)));
            _mm_storeu_ps(y + j, _mm_add_ps(_mm_loadu_ps(y + j), low));
            _mm_storeu_ps(y + j + 4, _mm_add_ps(_mm_loadu_ps(y + j + 4), high));
        }
        for (int64_t j = vector_end; j < c1; ++j)
            y[j] += (x[i] * bf16_to_float(r0[j]) + x[i + 1] * bf16_to_float(r1[j])) +
                    (x[i + 2] * bf16_to_float(r2[j]) + x[i + 3] * bf16_to_float(r3[j]));
    }
    for (; i < in; ++i) {
        const uint16_t* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += x[i] * bf16_to_float(row[j]);
    }
}

// sums[0..3] += one block of kPairBlock weights (two 16-byte loads) times x_paired's
// block: the low load's even values meet x_paired[0..3] and its odd ones [8..11], the
// high load's even values [4..7] and its odd ones [12..15].
inline void add_pair_block(const uint16_t* w, const float* x_paired, __m128* sums) {
    const __m128i odd_mask = _mm_set1_epi32(static_cast<int>(0xFFFF0000u));
    const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
    const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 8));
    sums[0] = _mm_add_ps(sums[0], _mm_mul_ps(_mm_castsi128_ps(_mm_slli_epi32(low, 16)), _mm_loadu_ps(x_paired)));
    sums[1] =
        _mm_add_ps(sums[1], _mm_mul_ps(_mm_castsi128_ps(_mm_and_si128(low, odd_mask)), _mm_loadu_ps(x_paired + 8)));
    sums[2] = _mm_add_ps(sums[2], _mm_mul_ps(_mm_castsi128_ps(_mm_slli_epi32(high, 16)), _mm_loadu_ps(x_paired + 4)));
    sums[3] =
        _mm_add_ps(sums[3], _mm_mul_ps(_mm_castsi128_ps(_mm_and_si128(high, odd_mask)), _mm_loadu_ps(x_paired + 12)));
}

// One row at a time, a dot product with x (which stays in L1) in paired order over its
// whole blocks, the matrix read as one sequential stream, eight running sums of 4 a cache
// line (two blocks) a step. This loop does more work per byte than any other row product
// (no fused multiply-add, a widening per 4 values), and on Zen 5 it fell short of memory:
// with four sums over halves widened by interleaving zeros, one 1B Llama decode step's
// products read 12-22% slower (two threads, alternating with this loop in one process)
// and the 1B's bfloat16 decode ran 14-18% slower.
void rows_bf16_sse2(const uint16_t* w, int64_t cols, const float* x, const float* x_paired, float* y, int64_t r0,
                    int64_t r1) {
    const int64_t blocks_end = cols / kPairBlock * kPairBlock;
    const bool l2 = prefetch_into_l2_too();
    for (int64_t r = r0; r < r1; ++r) {
        const uint16_t* a = w + r * cols;
        __m128 sums[8];
        for (__m128& v : sums)
            v = _mm_setzero_ps();
        int64_t k = 0;
        for (; k + 2 * kPairBlock <= blocks_end; k += 2 * kPairBlock) {
            // A cache line asked for kStreamPrefetchValues ahead (into the next rows near
            // a row's end): GPT-2's bfloat16 decode ran 4-5% faster on Zen 3 than with the
            // next row's line at the same offset.
            _mm_prefetch(address_past(a + k, kStreamPrefetchValues), _MM_HINT_T0);
            if (l2) prefetch_into_l2(a + k);
            add_pair_block(a + k, x_paired + k, sums);
            add_pair_block(a + k + kPairBlock, x_paired + k + kPairBlock, sums + 4);
        }
        if (k < blocks_end) add_pair_block(a + k, x_paired + k, sums);
        const __m128 total = _mm_add_ps(_mm_add_ps(_mm_add_ps(sums[0], sums[1]), _mm_add_ps(sums[2], sums[3])),
                                        _mm_add_ps(_mm_add_ps(sums[4], sums[5]), _mm_add_ps(sums[6], sums[7])));
        float sum = horizontal_sum(total);
        for (k = blocks_end; k < cols; ++k)
            sum += bf16_to_float(a[k]) * x[k];
        y[r] += sum;
    }
}

// float32 rows as rows_plain reads them, four at a time with the next four and the four
// after those prefetched, but with each row's two sums of 4 in registers: compiled from
// the plain loop, GCC kept its 4 x 8 sums on the stack, a load and a store around every
// addition.
void rows_f32_sse2(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    const int64_t vector_end = cols / 8 * 8;
    const bool l2 = prefetch_into_l2_too();
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* rows[4] = {w + r * cols, w + (r + 1) * cols, w + (r + 2) * cols, w + (r + 3) * cols};
        __m128 sums[8];
        for (__m128& v : sums)
            v = _mm_setzero_ps();
        const bool ahead = r + 8 <= r1, further = l2 && r + 12 <= r1;
        for (int64_t k = 0; k < vector_end; k += 8) {
            if (k % 16 == 0) { // a cache line of each row every 16 values
                for (int q = 0; q < 4 && ahead; ++q)
                    _mm_prefetch(reinterpret_cast<const char*>(rows[q] + 4 * cols + k), _MM_HINT_T0);
                for (int q = 0; q < 4 && further; ++q)
                    _mm_prefetch(reinterpret_cast<const char*>(rows[q] + 8 * cols + k), _MM_HINT_T1);
            }
            const __m128 low = _mm_loadu_ps(x + k), high = _mm_loadu_ps(x + k + 4);
            for (int q = 0; q < 4; ++q) {
                sums[2 * q] = _mm_add_ps(sums[2 * q], _mm_mul_ps(_mm_loadu_ps(rows[q] + k), low));
                sums[2 * q + 1] = _mm_add_ps(sums[2 * q + 1], _mm_mul_ps(_mm_loadu_ps(rows[q] + k + 4), high));
            }
        }
        for (int q = 0; q < 4; ++q) {
            float sum = horizontal_sum(_mm_add_ps(sums[2 * q], sums[2 * q + 1]));
            for (int64_t k = vector_end; k < cols; ++k)
                sum += rows[q][k] * x[k];
            y[r + q] += sum;
        }
    }
    for (; r < r1; ++r)
        dot_rows_plain<1>(w + r * cols, cols, x, y + r, false, false);
}

#endif

} // namespace

void in_out(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    in_out_plain(w, in, out, x, y, c0, c1);
}

void rows(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
#if defined(__x86_64__)
    rows_f32_sse2(w, cols, x, y, r0, r1);
#else
    rows_plain(w, cols, x, y, r0, r1);
#endif
}

namespace {
#if defined(__x86_64__)
// Panels with SSE2: 8 bfloat16 a load, 4 pairs whose even halves are columns i..i+3 of
// their half panel and odd halves columns 8+i..11+i; eight sums of 4 in registers. Each
// row's cache line is asked for kStreamPrefetchValues ahead, or twice that where
// prefetch_panels_far says: on Zen 5, GPT-2's block matrices read 0.74-0.82 of a plain
// sum of the same bytes 4 KB ahead and 0.79-0.87 8 KB ahead (microbenchmark, same
// threads and split, rotating order, two runs of 24 steps), and GPT-2 small's bfloat16
// decode ran a median 5% faster (five alternating pairs of runs).
void panels_bf16_sse2(const uint16_t* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0,
                      int64_t p1) {
    const int64_t ahead = kStreamPrefetchValues * (prefetch_panels_far() ? 2 : 1);
    const __m128i odd_mask = _mm_set1_epi32(static_cast<int>(0xFFFF0000u));
    const bool l2 = prefetch_into_l2_too();
    for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* panel = packed + p * in * kPanelColumns;
        __m128 sums[8];
        for (__m128& v : sums)
            v = _mm_setzero_ps();
        for (int64_t k = 0; k < in; ++k) {
            const uint16_t* row = panel + k * kPanelColumns;
            _mm_prefetch(address_past(row, ahead), _MM_HINT_T0);
            if (l2) prefetch_into_l2(row);
            const __m128 xk = _mm_set1_ps(x[k]);
            for (int q = 0; q < 4; ++q) { // slots 8q..8q+7
                const __m128i pairs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * q));
                const __m128 even = _mm_castsi128_ps(_mm_slli_epi32(pairs, 16));
                const __m128 odd = _mm_castsi128_ps(_mm_and_si128(pairs, odd_mask));
                sums[2 * q] = _mm_add_ps(sums[2 * q], _mm_mul_ps(xk, even));
                sums[2 * q + 1] = _mm_add_ps(sums[2 * q + 1], _mm_mul_ps(xk, odd));
            }
        }
        // Slots 8q..8q+7 hold columns 16(q/2) + 4(q%2) + [0, 4) (even) and the same + 8 (odd).
        float* out = y + p * kPanelColumns;
        for (int q = 0; q < 4; ++q) {
            const int64_t column = 16 * (q / 2) + 4 * (q % 2);
            _mm_storeu_ps(out + column, sums[2 * q]);
            _mm_storeu_ps(out + column + 8, sums[2 * q + 1]);
        }
        if (bias) {
            for (int64_t j = 0; j < kPanelColumns; ++j)
                out[j] += bias[p * kPanelColumns + j];
        }
    }
}
#else
void panels_bf16_plain(const uint16_t* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0,
                       int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        float sums[kPanelColumns] = {};
        const uint16_t* panel = packed + p * in * kPanelColumns;
        for (int64_t k = 0; k < in; ++k) {
            for (int64_t s = 0; s < kPanelColumns; ++s)
                sums[panel_column(s)] += x[k] * bf16_to_float(panel[k * kPanelColumns + s]);
        }
        for (int64_t j = 0; j < kPanelColumns; ++j)
            y[p * kPanelColumns + j] = sums[j] + (bias ? bias[p * kPanelColumns + j] : 0.0f);
    }
}
#endif
} // namespace

void panels_bf16(const uint16_t* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0,
                 int64_t p1) {
#if defined(__x86_64__)
    panels_bf16_sse2(packed, in, x, bias, y, p0, p1);
#else
    panels_bf16_plain(packed, in, x, bias, y, p0, p1);
#endif
}

// float32 panels: on x86-64 the 32 sums of a panel in eight SSE2 registers, and each
// row's two cache lines asked for ahead. 1 KB ahead on Zen 3: without it GPT-2's float32
// decode ran 4-5% slower there than on the [in, out] layout, with it the same speed. On
// Zen 5, 1 KB read GPT-2's block matrices at 0.74-0.84 of a plain sum of the same bytes
// and 8 KB at 0.93-0.98 (microbenchmark, same threads and split, rotating order, two
// runs of 24 steps), and GPT-2 small's float32 decode ran a median 12% faster with 8 KB
// (five alternating pairs of runs); prefetch_panels_far picks the distance.
void panels(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1) {
#if defined(__x86_64__)
    const int64_t ahead_values = prefetch_panels_far() ? 2048 : 256; // 8 KB or 1 KB
    const bool l2 = prefetch_into_l2_too();
#endif
    for (int64_t p = p0; p < p1; ++p) {
        const float* panel = packed + p * in * kPanelColumns;
        float* out = y + p * kPanelColumns;
#if defined(__x86_64__)
        __m128 sums[kPanelColumns / 4];
        for (__m128& v : sums)
            v = _mm_setzero_ps();
        for (int64_t k = 0; k < in; ++k) {
            const float* row = panel + k * kPanelColumns;
            _mm_prefetch(address_past(row, ahead_values), _MM_HINT_T0);
            _mm_prefetch(address_past(row, ahead_values + 16), _MM_HINT_T0);
            if (l2) {
                prefetch_into_l2(row);
                prefetch_into_l2(row + 16);
            }
            const __m128 xk = _mm_set1_ps(x[k]);
            for (int v = 0; v < kPanelColumns / 4; ++v)
                sums[v] = _mm_add_ps(sums[v], _mm_mul_ps(xk, _mm_loadu_ps(row + 4 * v)));
        }
        for (int v = 0; v < kPanelColumns / 4; ++v)
            _mm_storeu_ps(out + 4 * v, sums[v]);
#else
        float sums[kPanelColumns] = {};
        for (int64_t k = 0; k < in; ++k) {
            for (int64_t j = 0; j < kPanelColumns; ++j)
                sums[j] += x[k] * panel[k * kPanelColumns + j];
        }
        std::copy(sums, sums + kPanelColumns, out);
#endif
        if (bias) {
            for (int64_t j = 0; j < kPanelColumns; ++j)
                out[j] += bias[p * kPanelColumns + j];
        }
    }
}

void in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
#if defined(__x86_64__)
    in_out_bf16_sse2(w, in, out, x, y, c0, c1);
#else
    in_out_plain(w, in, out, x, y, c0, c1);
#endif
}

void rows_bf16(const uint16_t* w, int64_t cols, const float* x, const float* x_paired, float* y, int64_t r0,
               int64_t r1) {
#if defined(__x86_64__)
    rows_bf16_sse2(w, cols, x, x_paired, y, r0, r1);
#else
    (void)x_paired;
    rows_plain(w, cols, x, y, r0, r1);
#endif
}

} // namespace hookscope::kernels::portable
