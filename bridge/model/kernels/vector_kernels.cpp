// Kernels over vectors: the norms and the rotary embedding of a decode step (plain
// loops: their work is a few thousand values, far below the products'); the
// log-sum-exp of a row of logits and the softmax of attention rows (vectorised: whole
// vocabularies and P² scores per layer).

#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/spin_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <limits>

namespace hookscope::kernels {
namespace {

// Sums are kept in float over blocks this long, then in double: a block's rounding
// error stays below (kBlock / lanes) · 2^-24 of its sum, and the row's adds nothing.
constexpr int64_t kBlock = 1024;

// The sum of exp(x[i] - top) over n values, each exp also stored into out[i] when out
// is not null (a softmax keeps them; a log-sum-exp needs only the sum).
double sum_exp_portable(const float* x, int64_t n, float top, float* out) {
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(x[i] - top);
        if (out) out[i] = e;
        total += e;
    }
    return total;
}

float max_portable(const float* x, int64_t n) {
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i)
        top = x[i] > top ? x[i] : top;
    return top;
}

#if defined(__x86_64__)
// exp(x) for x <= 0: x = k·ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, so r is
// exact), exp(r) by a degree-7 polynomial (Cephes' expf coefficients, within 2 ulp),
// times 2^k built in the exponent bits. Below -87.3 (where exp is under 1.2e-38 and
// would go subnormal) the result is 0, so a masked -inf gives exactly 0. NaN stays NaN
// (max returns its second operand when either is NaN; the "not less than" test is true
// for NaN).
__attribute__((target("avx2,fma"))) __m256 exp_avx2(__m256 x) {
    const __m256 kept = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_NLT_UQ);
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);
    const __m256 k =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(kept, _mm256_mul_ps(p, _mm256_castsi256_ps(scale)));
}

__attribute__((target("avx2,fma"))) float max_avx2(const float* x, int64_t n) {
    __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m); // a NaN input leaves m as it was
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m);
    float top = *std::max_element(lanes, lanes + 8);
    for (; i < n; ++i)
        top = x[i] > top ? x[i] : top;
    return top;
}

__attribute__((target("avx2,fma"))) double sum_exp_avx2(const float* x, int64_t n, float top, float* out) {
    const __m256 t = _mm256_set1_ps(top);
    double total = 0;
    int64_t i = 0;
    while (i + 8 <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        __m256 a = _mm256_setzero_ps();
        for (; i + 8 <= block_end; i += 8) {
            const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), t));
            if (out) _mm256_storeu_ps(out + i, e);
            a = _mm256_add_ps(a, e);
        }
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, a);
        for (const float v : lanes)
            total += v;
    }
    return total + sum_exp_portable(x + i, n - i, top, out ? out + i : nullptr);
}

// As exp_avx2, 16 lanes; the zero-masked forms because GCC 12 warns about the unmasked
// ones' undefined operand.
__attribute__((target("avx512f"))) __m512 exp_avx512(__m512 x) {
    const __mmask16 kept = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_NLT_UQ);
    x = _mm512_maskz_max_ps(0xFFFF, _mm512_set1_ps(-87.3f), x);
    const __m512 k =
        _mm512_maskz_roundscale_ps(0xFFFF, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i scale = _mm512_maskz_slli_epi32(
        0xFFFF, _mm512_maskz_add_epi32(0xFFFF, _mm512_maskz_cvtps_epi32(0xFFFF, k), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(kept, p, _mm512_castsi512_ps(scale));
}

__attribute__((target("avx512f"))) float max_avx512(const float* x, int64_t n) {
    __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        m = _mm512_maskz_max_ps(0xFFFF, _mm512_loadu_ps(x + i), m);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, m);
    float top = *std::max_element(lanes, lanes + 16);
    for (; i < n; ++i)
        top = x[i] > top ? x[i] : top;
    return top;
}

__attribute__((target("avx512f"))) double sum_exp_avx512(const float* x, int64_t n, float top, float* out) {
    const __m512 t = _mm512_set1_ps(top);
    double total = 0;
    int64_t i = 0;
    while (i + 16 <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        __m512 a = _mm512_setzero_ps();
        for (; i + 16 <= block_end; i += 16) {
            const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), t));
            if (out) _mm512_storeu_ps(out + i, e);
            a = _mm512_add_ps(a, e);
        }
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, a);
        for (const float v : lanes)
            total += v;
    }
    return total + sum_exp_portable(x + i, n - i, top, out ? out + i : nullptr);
}
#endif

// ---- x * sigmoid(z): GELU's tanh form and SiLU ---------------------------------------
// sigmoid(z) from e = exp(-|z|), whose argument is never positive (so the exps above
// serve): 1 / (1 + e) for z >= 0, e / (1 + e) below. Nothing overflows; the result is
// within a few ulp of the exact one (the exp's 2 ulp, a division and the z of each kind).

// z for each kind: GELU's tanh form is 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715
// x^3), which is x sigmoid(2u); SiLU is x sigmoid(x).
constexpr float kGeluZ1 = 1.5957691216057308f;             // 2 sqrt(2/pi)
constexpr float kGeluZ3 = 1.5957691216057308f * 0.044715f; // 2 sqrt(2/pi) 0.044715

float sigmoid_form_scalar(SigmoidActivation kind, float x) {
    const float z = kind == SigmoidActivation::GeluTanh ? x * (kGeluZ1 + kGeluZ3 * x * x) : x;
    const float e = std::exp(-std::fabs(z));
    return z >= 0 ? x / (1 + e) : x * e / (1 + e);
}

#if defined(__x86_64__)
// exp(x) for x <= 0 in SSE2, as exp_avx2 (no FMA, and rounding by conversion to int32,
// which rounds to nearest under the default rounding mode).
__m128 exp_sse2(__m128 x) {
    const __m128 kept = _mm_cmpnlt_ps(x, _mm_set1_ps(-87.3f));
    x = _mm_max_ps(_mm_set1_ps(-87.3f), x);
    const __m128i ki = _mm_cvtps_epi32(_mm_mul_ps(x, _mm_set1_ps(1.44269504f)));
    const __m128 k = _mm_cvtepi32_ps(ki);
    __m128 r = _mm_sub_ps(x, _mm_mul_ps(k, _mm_set1_ps(0.693359375f)));
    r = _mm_sub_ps(r, _mm_mul_ps(k, _mm_set1_ps(-2.12194440e-4f)));
    __m128 p = _mm_set1_ps(1.9875691500e-4f);
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.3981999507e-3f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(8.3334519073e-3f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(4.1665795894e-2f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.6666665459e-1f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(5.0000001201e-1f));
    p = _mm_add_ps(_mm_mul_ps(p, _mm_mul_ps(r, r)), _mm_add_ps(r, _mm_set1_ps(1.0f)));
    const __m128i scale = _mm_slli_epi32(_mm_add_epi32(ki, _mm_set1_epi32(127)), 23);
    return _mm_and_ps(kept, _mm_mul_ps(p, _mm_castsi128_ps(scale)));
}

void sigmoid_form_sse2(SigmoidActivation kind, const float* x, int64_t n, float* out) {
    const __m128 sign = _mm_set1_ps(-0.0f), one = _mm_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m128 v = _mm_loadu_ps(x + i);
        const __m128 z =
            kind == SigmoidActivation::GeluTanh
                ? _mm_mul_ps(v, _mm_add_ps(_mm_set1_ps(kGeluZ1), _mm_mul_ps(_mm_set1_ps(kGeluZ3), _mm_mul_ps(v, v))))
                : v;
        const __m128 e = exp_sse2(_mm_or_ps(z, sign)); // exp(-|z|)
        const __m128 numerator = _mm_or_ps(_mm_and_ps(_mm_cmpge_ps(z, _mm_setzero_ps()), one),
                                           _mm_andnot_ps(_mm_cmpge_ps(z, _mm_setzero_ps()), e));
        _mm_storeu_ps(out + i, _mm_div_ps(_mm_mul_ps(v, numerator), _mm_add_ps(one, e)));
    }
    for (; i < n; ++i)
        out[i] = sigmoid_form_scalar(kind, x[i]);
}

__attribute__((target("avx2,fma"))) void sigmoid_form_avx2(SigmoidActivation kind, const float* x, int64_t n,
                                                           float* out) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 z = kind == SigmoidActivation::GeluTanh
                             ? _mm256_mul_ps(v, _mm256_fmadd_ps(_mm256_set1_ps(kGeluZ3), _mm256_mul_ps(v, v),
                                                                _mm256_set1_ps(kGeluZ1)))
                             : v;
        const __m256 e = exp_avx2(_mm256_or_ps(z, sign)); // exp(-|z|)
        const __m256 numerator = _mm256_blendv_ps(e, one, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GE_OQ));
        _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_mul_ps(v, numerator), _mm256_add_ps(one, e)));
    }
    for (; i < n; ++i)
        out[i] = sigmoid_form_scalar(kind, x[i]);
}
#endif

void sigmoid_form_at(SigmoidActivation kind, const float* x, int64_t n, float* out, Level l) {
#if defined(__x86_64__)
    if (l != Level::Portable) return sigmoid_form_avx2(kind, x, n, out); // AVX-512 CPUs run the AVX2 form
    return sigmoid_form_sse2(kind, x, n, out);
#else
    (void)l;
    for (int64_t i = 0; i < n; ++i)
        out[i] = sigmoid_form_scalar(kind, x[i]);
#endif
}

struct MaxAndSum {
    float top;    // the largest value (NaN ignored)
    double total; // sum of exp(x[i] - top)
};

// One row's max and sum of exps at the level in use, each exp stored into out when out
// is not null.
MaxAndSum max_and_sum_exp(const float* x, int64_t n, float* out, Level l) {
#if defined(__x86_64__)
    if (l == Level::Avx512) {
        const float top = max_avx512(x, n);
        return {top, sum_exp_avx512(x, n, top, out)};
    }
    if (l == Level::Avx2) {
        const float top = max_avx2(x, n);
        return {top, sum_exp_avx2(x, n, top, out)};
    }
#endif
    (void)l;
    const float top = max_portable(x, n);
    return {top, sum_exp_portable(x, n, top, out)};
}

// Softmax of one row at level l; out may be x.
void softmax_row_at(const float* x, int64_t n, float* out, Level l) {
    const auto inverse = static_cast<float>(1.0 / max_and_sum_exp(x, n, out, l).total);
    for (int64_t i = 0; i < n; ++i)
        out[i] *= inverse;
}

} // namespace

void softmax_row(const float* x, int64_t n, float* out) {
    softmax_row_at(x, n, out, level());
}

int64_t top_k(const float* x, int64_t n, int64_t k, int64_t* ids, float* values) {
    k = std::clamp<int64_t>(k, 0, kTopKListed);
    if (k == 0) return 0;
    int64_t found = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        if (found == k && !(v > values[k - 1])) continue; // also keeps NaN out
        if (std::isnan(v)) continue;
        int64_t j = found < k ? found++ : k - 1;
        for (; j > 0 && v > values[j - 1]; --j) {
            values[j] = values[j - 1];
            ids[j] = ids[j - 1];
        }
        values[j] = v;
        ids[j] = i;
    }
    return found;
}

float log_sum_exp(const float* x, int64_t n) {
    if (n <= 0) return -std::numeric_limits<float>::infinity();
    const MaxAndSum m = max_and_sum_exp(x, n, nullptr, level());
    return static_cast<float>(static_cast<double>(m.top) + std::log(m.total));
}

namespace {
// sum over i < n of term(x[i]) in double, over eight running sums added at the end: a
// single running sum waits on each addition (about 2.5 us for GPT-2's 768 values, a norm
// twice a layer on the decode's path), eight let the compiler use vectors.
template <class Term> double sum_in_lanes(const float* x, int64_t n, const Term& term) {
    constexpr int64_t kLanes = 8;
    double lanes[kLanes] = {};
    const int64_t whole = n / kLanes * kLanes;
    for (int64_t i = 0; i < whole; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l)
            lanes[l] += term(static_cast<double>(x[i + l]));
    }
    double sum = 0;
    for (int64_t i = whole; i < n; ++i)
        sum += term(static_cast<double>(x[i]));
    for (const double lane : lanes)
        sum += lane;
    return sum;
}
} // namespace

void layer_norm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out) {
    const double mean = sum_in_lanes(x, n, [](double v) { return v; }) / static_cast<double>(n);
    const double squares = sum_in_lanes(x, n, [mean](double v) { return (v - mean) * (v - mean); });
    const auto rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
    const auto m = static_cast<float>(mean);
    for (int64_t i = 0; i < n; ++i)
        out[i] = (x[i] - m) * rstd * w[i] + b[i];
}

void rms_norm(const float* x, const float* w, int64_t n, double eps, float* out) {
    const double squares = sum_in_lanes(x, n, [](double v) { return v * v; });
    const auto rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i)
        out[i] = w[i] * (x[i] * rstd);
}

void sigmoid_activation(SigmoidActivation kind, const float* x, int64_t n, float* out) {
    const Level l = level();
    // One decode step's few thousand values are done before threads would start.
    constexpr int64_t kSplitAbove = int64_t{1} << 16;
    if (n <= kSplitAbove) return sigmoid_form_at(kind, x, n, out, l);
    SpinPool::instance().run([&](int part, int parts) {
        const int64_t begin = n * part / parts / 8 * 8, end = part + 1 == parts ? n : n * (part + 1) / parts / 8 * 8;
        sigmoid_form_at(kind, x + begin, end - begin, out + begin, l);
    });
}

void rotate_half(float* x, int64_t heads, int64_t d_head, int64_t dims, const float* cos, const float* sin) {
    const int64_t half = dims / 2;
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * d_head;
        for (int64_t i = 0; i < half; ++i) {
            const float a = v[i], b = v[i + half];
            v[i] = a * cos[i] - b * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

void softmax_rows(const float* x, int64_t rows, int64_t n, float* out) {
    const Level l = level();
    SpinPool::instance().run([&](int part, int parts) {
        for (int64_t r = rows * part / parts; r < rows * (part + 1) / parts; ++r)
            softmax_row_at(x + r * n, n, out + r * n, l);
    });
}

void scale_causal(float* scores, int64_t heads, int64_t positions, int64_t keys, int64_t start, float scale) {
    SpinPool::instance().run([&](int part, int parts) {
        const int64_t rows = heads * positions;
        for (int64_t r = rows * part / parts; r < rows * (part + 1) / parts; ++r) {
            float* row = scores + r * keys;
            const int64_t seen = std::min(keys, start + r % positions + 1);
            for (int64_t j = 0; j < seen; ++j)
                row[j] *= scale;
            std::fill(row + seen, row + keys, -std::numeric_limits<float>::infinity());
        }
    });
}

} // namespace hookscope::kernels
