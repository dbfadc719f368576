#include "bridge/model/kernels/baseline_kernels.h"

#include "bridge/model/kernels/bf16.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace hookscope::kernels::baseline {

#if defined(__x86_64__)

namespace {

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
} // namespace

// Four rows of w at a time into y[c0, c1), which stays in L1; the next four rows are
// prefetched a cache line (32 values) per row at a time.
void in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
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

// Two rows at a time, each a dot product with x (which stays in L1), over four vector
// accumulators per row.
void rows_bf16(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    const int64_t vector_end = cols / 8 * 8;
    for (int64_t r = r0; r < r1; r += 2) {
        const bool pair = r + 1 < r1;
        const uint16_t* a = w + r * cols;
        const uint16_t* b = pair ? a + cols : a; // a lone last row is computed twice, kept once
        __m128 sa0 = _mm_setzero_ps(), sa1 = sa0, sb0 = sa0, sb1 = sa0;
        const bool ahead = r + 4 <= r1;
        int64_t k = 0;
        for (; k < vector_end; k += 8) {
            if (ahead && k % 32 == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(a + 2 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 2 * cols + k), _MM_HINT_T0);
            }
            const __m128 xl = _mm_loadu_ps(x + k), xh = _mm_loadu_ps(x + k + 4);
            __m128 al, ah, bl, bh;
            widen8(a + k, al, ah);
            widen8(b + k, bl, bh);
            sa0 = _mm_add_ps(sa0, _mm_mul_ps(al, xl));
            sa1 = _mm_add_ps(sa1, _mm_mul_ps(ah, xh));
            sb0 = _mm_add_ps(sb0, _mm_mul_ps(bl, xl));
            sb1 = _mm_add_ps(sb1, _mm_mul_ps(bh, xh));
        }
        float ta = horizontal_sum(_mm_add_ps(sa0, sa1)), tb = horizontal_sum(_mm_add_ps(sb0, sb1));
        for (; k < cols; ++k) {
            ta += bf16_to_float(a[k]) * x[k];
            tb += bf16_to_float(b[k]) * x[k];
        }
        y[r] += ta;
        if (pair) y[r + 1] += tb;
    }
}

#endif

} // namespace hookscope::kernels::baseline
