// The AVX-512 level of the one-position products (vector_levels.h).
#include "bridge/model/kernels/vector_levels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/portable_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hookscope::kernels {

#if defined(__x86_64__)
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

namespace {
__attribute__((target("avx512f"))) float lane_sum(__m512 v) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    float total = 0;
    for (const float lane : lanes)
        total += lane;
    return total;
}
} // namespace

// Four rows side by side, prefetching the next four at the same offset and, where
// prefetch_into_l2_too says, the four after those into L2: on the Intel Xeon one 1B
// Llama decode step's float32 row products read 0.98-0.99 of a plain sum of the same
// bytes with the L2 requests against 0.88-0.90 without (bench_streams, two runs each),
// 0.88-0.94 against 0.79-0.81 in the AVX2 loop and 0.85-0.86 against 0.79-0.86 in SSE2.
__attribute__((target("avx512f"))) void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                    int64_t r1) {
    const int64_t vector_end = cols / 16 * 16;
    const bool l2 = prefetch_into_l2_too();
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        const bool ahead = r + 8 <= r1;
        const bool further = l2 && r + 12 <= r1;
        __m512 sa = _mm512_setzero_ps(), sb = _mm512_setzero_ps(), sc = _mm512_setzero_ps(), sd = _mm512_setzero_ps();
        for (int64_t k = 0; k < vector_end; k += 16) {
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(a + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(c + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(d + 4 * cols + k), _MM_HINT_T0);
            }
            if (further) {
                for (int64_t q = 8; q < 12; ++q)
                    _mm_prefetch(reinterpret_cast<const char*>(a + q * cols + k), _MM_HINT_T1);
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

namespace {
// A bfloat16 is the top half of a float32: 16 weights widened per instruction pair.
__attribute__((target("avx512f"))) __m512 widen_bf16(const uint16_t* p) {
    // The zero-masked forms: GCC 12 warns about the unmasked ones' undefined operand.
    const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
}
} // namespace

namespace {
// bfloat16 rows: one row at a time over four sums of 16 (two cache lines a step), the
// matrix read as one sequential stream. On AMD it is left to the hardware's prefetchers:
// asking for each line kStreamPrefetchValues ahead, as the AVX2 and SSE2 row kernels
// do, decoded a 1B Llama in bfloat16 a median 4% slower on Zen 5 (six alternating pairs
// of runs, 15.0 against 15.6 tokens/s) and read 0.81-0.83 of a plain sum against
// 0.83-0.86 without (bench_streams, two runs each). Where prefetch_into_l2_too says,
// each line is asked for that far ahead and into L2 further (see there). Two rows side
// by side over a sum each (each step waiting on the last step's fused multiply-adds) read
// one 1B Llama decode step's products 0-8% slower on Zen 5, two threads alternating in
// one process.
template <bool Prefetch>
__attribute__((target("avx512f"))) void rows_bf16_avx512_of(const uint16_t* w, int64_t cols, const float* x, float* y,
                                                            int64_t r0, int64_t r1) {
    const int64_t vector_end = cols / 16 * 16;
    for (int64_t r = r0; r < r1; ++r) {
        const uint16_t* a = w + r * cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int64_t k = 0;
        for (; k + 64 <= vector_end; k += 64) {
            if constexpr (Prefetch) {
                _mm_prefetch(address_past(a + k, kStreamPrefetchValues), _MM_HINT_T0);
                _mm_prefetch(address_past(a + k + 32, kStreamPrefetchValues), _MM_HINT_T0);
                prefetch_into_l2(a + k);
                prefetch_into_l2(a + k + 32);
            }
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
} // namespace

void rows_bf16_avx512(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    (prefetch_into_l2_too() ? rows_bf16_avx512_of<true> : rows_bf16_avx512_of<false>)(w, cols, x, y, r0, r1);
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
// Other processors: cpu_level() never picks this level; the portable loops stand in.
void in_out_bf16_avx512(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out_bf16(w, in, out, x, y, c0, c1);
}
void rows_bf16_avx512(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows_bf16(w, cols, x, x, y, r0, r1);
}
void in_out_avx512(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    portable::in_out(w, in, out, x, y, c0, c1);
}
void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    portable::rows(w, cols, x, y, r0, r1);
}
#endif

} // namespace hookscope::kernels
