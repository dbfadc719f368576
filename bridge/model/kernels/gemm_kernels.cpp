// Matrix products over several positions (prompt passes and the recompute) with
// bfloat16 weights, or float32 ones in the panel layout. bfloat16 weights are widened to
// float32 as they are packed into the small panels the inner loop reads, so no float32
// copy of a weight exists beyond a panel, no product runs on bfloat16 inputs, and the
// weights cross memory once at two bytes each; float32 panels are copied the same way.
//
// Blocking: each thread packs every row of x once, then takes blocks of kNc output
// columns (gemm_on_pool). For each block of kKc inputs, it widens that part of the
// block's weights into panels of kNr columns ([kKc][kNr] floats, contiguous), then runs
// a register tile of kMr positions by kNr columns over every row of x. Panels of one
// block (kNc · kKc · 4 bytes) and the block's part of the output stay in L2.
// Register tiles: SSE2 6 x 8 (every x86-64), AVX2 6 x 16, AVX-512 12 x 32.

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/spin_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace hookscope::kernels {
namespace {

// Inputs per block: a tile's panel (kKc x kNr floats: 16 KB for AVX2) and its packed
// rows (6 KB) fit a 32 KB L1 together, as on AMD's Zen cores; 384 overflowed it and
// ran the bfloat16 products 10 to 12% slower there (bench_products, interleaved).
constexpr int64_t kKc = 256;
// Columns per block, the unit the threads take: GPT-2's 768 and 2304 columns are 6 and
// 18 blocks, which two threads share evenly.
constexpr int64_t kNc = 128;

// Where column n, input k of the weights lives: w [n, k] (nn.Linear), w [k, n] (Conv1D),
// or Conv1D weights in the panel layout (kernels.h), bfloat16 in `w`, or float32 in
// `f32` (FloatPanels).
enum class Layout { Linear, Conv1d, Panels, FloatPanels };
struct Weights {
    const uint16_t* w;
    int64_t in, out;
    Layout layout;
    const float* f32 = nullptr;
};

// The slot of a panel that holds its column c (the inverse of panel_column).
constexpr int64_t panel_slot(int64_t c) {
    return 16 * (c / 16) + 2 * (c % 8) + (c % 16) / 8;
}
static_assert(panel_slot(panel_column(5)) == 5 && panel_slot(panel_column(30)) == 30);

// Row k of the half panel (16 columns) that starts at column n0 (a multiple of 16).
inline const uint16_t* half_panel_row(const Weights& w, int64_t n0, int64_t k) {
    return w.w + ((n0 / kPanelColumns) * w.in + k) * kPanelColumns + n0 % kPanelColumns;
}

// Widens columns [n0, n0 + nr) × inputs [k0, k0 + kc) into panel[kk * nr_full + j],
// zero-filling columns past the end, so every panel is full width.
void pack_panel(const Weights& w, int64_t n0, int64_t nr, int64_t nr_full, int64_t k0, int64_t kc, float* panel) {
    if (w.layout == Layout::FloatPanels) { // every panel the tiles take lies inside one of these
        for (int64_t kk = 0; kk < kc; ++kk) {
            const float* row = w.f32 + ((n0 / kPanelColumns) * w.in + k0 + kk) * kPanelColumns + n0 % kPanelColumns;
            std::copy(row, row + nr, panel + kk * nr_full);
        }
    } else if (w.layout == Layout::Panels) {
        for (int64_t kk = 0; kk < kc; ++kk) {
            for (int64_t j = 0; j < nr; ++j) {
                const int64_t n = n0 + j;
                const uint16_t* row = w.w + ((n / kPanelColumns) * w.in + k0 + kk) * kPanelColumns;
                panel[kk * nr_full + j] = bf16_to_float(row[panel_slot(n % kPanelColumns)]);
            }
        }
    } else if (w.layout == Layout::Linear) {
        for (int64_t j = 0; j < nr; ++j) {
            const uint16_t* src = w.w + (n0 + j) * w.in + k0;
            for (int64_t kk = 0; kk < kc; ++kk)
                panel[kk * nr_full + j] = bf16_to_float(src[kk]);
        }
    } else {
        for (int64_t kk = 0; kk < kc; ++kk) {
            const uint16_t* src = w.w + (k0 + kk) * w.out + n0;
            for (int64_t j = 0; j < nr; ++j)
                panel[kk * nr_full + j] = bf16_to_float(src[j]);
        }
    }
    if (nr < nr_full) {
        for (int64_t kk = 0; kk < kc; ++kk)
            std::fill(panel + kk * nr_full + nr, panel + (kk + 1) * nr_full, 0.0f);
    }
}

// A tile of mr rows × kNr columns from one panel: x[rows, k0..k0+kc] · panel, stored
// into c (the first block of inputs) or added to it. A panel short of kNr columns goes
// through a scratch tile, of which only its `nr` columns are kept.
template <int kMr, int kNr, class Tile>
void run_tile(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, int64_t nr,
              bool first, Tile&& tile) {
    if (nr == kNr) {
        tile(xp, mr, panel, kc, c, ldc, first);
        return;
    }
    alignas(64) float out[kMr * kNr];
    tile(xp, mr, panel, kc, out, kNr, true);
    for (int64_t i = 0; i < mr; ++i) {
        float* row = c + i * ldc;
        const float* t = out + i * kNr;
        for (int64_t j = 0; j < nr; ++j)
            row[j] = first ? t[j] : row[j] + t[j];
    }
}

// Calls f(std::integral_constant<int, r>) for the row count r = mr (1 <= mr <= kMax), so
// that each tile height gets its own fully unrolled instance.
template <int kMax, class F> void with_rows(int64_t mr, F&& f) {
    if constexpr (kMax > 1) {
        if (mr < kMax) return with_rows<kMax - 1>(mr, f);
    }
    f(std::integral_constant<int, kMax>{});
}

#if !defined(__x86_64__)
// ---- portable (without SSE2) --------------------------------------------------------

constexpr int kPortableMr = 4, kPortableNr = 16;

void tile_portable(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    float acc[kPortableMr][kPortableNr] = {};
    for (int64_t kk = 0; kk < kc; ++kk) {
        const float* p = panel + kk * kPortableNr;
        for (int64_t i = 0; i < mr; ++i) {
            const float xi = xp[kk * kPortableMr + i];
            for (int j = 0; j < kPortableNr; ++j)
                acc[i][j] += xi * p[j];
        }
    }
    for (int64_t i = 0; i < mr; ++i)
        for (int j = 0; j < kPortableNr; ++j)
            c[i * ldc + j] = first ? acc[i][j] : c[i * ldc + j] + acc[i][j];
}
#endif

#if defined(__x86_64__)
// ---- SSE2 (every x86-64): 6 rows x 8 columns, 12 accumulators -------------------------
// No fused multiply-add below AVX2: a product and a sum per step, which keeps both of
// the older cores' floating-point ports busy.

constexpr int kSse2Mr = 6, kSse2Nr = 8;

template <int kRows>
void tile_sse2_rows(const float* xp, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    __m128 acc[kRows][2];
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i)
        acc[i][0] = acc[i][1] = _mm_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m128 w0 = _mm_loadu_ps(panel + kk * kSse2Nr);
        const __m128 w1 = _mm_loadu_ps(panel + kk * kSse2Nr + 4);
#pragma GCC unroll 16
        for (int i = 0; i < kRows; ++i) {
            const __m128 xi = _mm_set1_ps(xp[kk * kSse2Mr + i]);
            acc[i][0] = _mm_add_ps(acc[i][0], _mm_mul_ps(xi, w0));
            acc[i][1] = _mm_add_ps(acc[i][1], _mm_mul_ps(xi, w1));
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i) {
        float* row = c + i * ldc;
        if (!first) {
            acc[i][0] = _mm_add_ps(acc[i][0], _mm_loadu_ps(row));
            acc[i][1] = _mm_add_ps(acc[i][1], _mm_loadu_ps(row + 4));
        }
        _mm_storeu_ps(row, acc[i][0]);
        _mm_storeu_ps(row + 4, acc[i][1]);
    }
}

void tile_sse2(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    with_rows<kSse2Mr>(mr, [&](auto rows) { tile_sse2_rows<decltype(rows)::value>(xp, panel, kc, c, ldc, first); });
}

// nn.Linear weights into a panel of 8 columns (a panel column is a weight row), eight
// rows by eight inputs at a time: each row's eight inputs widened into two vectors of
// four, and each four rows' vectors transposed in registers; inputs past the last
// multiple of 8 go through the scalar packer's loop. (With the scalar packer for every
// input, a 1B Llama's prompt pass ran 1.14x to 1.21x float32's on the BLAS, Zen 5.)
void pack_linear_sse2(const Weights& w, int64_t n0, int64_t k0, int64_t kc, float* panel) {
    const __m128i zero = _mm_setzero_si128();
    const int64_t eights = kc / 8 * 8;
    for (int64_t kk = 0; kk < eights; kk += 8) {
        __m128 low[8], high[8]; // inputs kk..kk+3 and kk+4..kk+7 of rows n0..n0+7
        for (int64_t i = 0; i < 8; ++i) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.w + (n0 + i) * w.in + k0 + kk));
            low[i] = _mm_castsi128_ps(_mm_unpacklo_epi16(zero, v));
            high[i] = _mm_castsi128_ps(_mm_unpackhi_epi16(zero, v));
        }
        for (int64_t half = 0; half < 2; ++half) { // rows 0-3, then 4-7: panel columns
            __m128* const quads[2] = {low + 4 * half, high + 4 * half};
            for (int64_t q = 0; q < 2; ++q) { // inputs kk..kk+3, then kk+4..kk+7
                __m128* r = quads[q];
                _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
                for (int64_t j = 0; j < 4; ++j)
                    _mm_storeu_ps(panel + (kk + 4 * q + j) * kSse2Nr + 4 * half, r[j]);
            }
        }
    }
    if (eights < kc) pack_panel(w, n0, kSse2Nr, kSse2Nr, k0 + eights, kc - eights, panel + eights * kSse2Nr);
}

// Conv1D weights ([in, out]: a panel row is eight consecutive weights) widened eight at
// a time by interleaving zeros below them; nn.Linear weights as above.
void pack_panel_sse2(const Weights& w, int64_t n0, int64_t k0, int64_t kc, float* panel) {
    if (w.layout == Layout::Linear) return pack_linear_sse2(w, n0, k0, kc, panel);
    if (w.layout == Layout::FloatPanels) return pack_panel(w, n0, kSse2Nr, kSse2Nr, k0, kc, panel);
    if (w.layout == Layout::Panels) {
        // Columns 0-7 of a half panel are the even halves of its 8 pairs, 8-15 the odd ones.
        const bool odd = n0 % 16 != 0;
        const __m128i odd_mask = _mm_set1_epi32(static_cast<int>(0xFFFF0000u));
        for (int64_t kk = 0; kk < kc; ++kk) {
            const uint16_t* row = half_panel_row(w, n0 / 16 * 16, k0 + kk);
            for (int h = 0; h < 2; ++h) {
                const __m128i pairs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * h));
                const __m128i wide = odd ? _mm_and_si128(pairs, odd_mask) : _mm_slli_epi32(pairs, 16);
                _mm_storeu_ps(panel + kk * kSse2Nr + 4 * h, _mm_castsi128_ps(wide));
            }
        }
        return;
    }
    const __m128i zero = _mm_setzero_si128();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.w + (k0 + kk) * w.out + n0));
        _mm_storeu_ps(panel + kk * kSse2Nr, _mm_castsi128_ps(_mm_unpacklo_epi16(zero, v)));
        _mm_storeu_ps(panel + kk * kSse2Nr + 4, _mm_castsi128_ps(_mm_unpackhi_epi16(zero, v)));
    }
}

// ---- AVX2 + FMA: 6 rows × 16 columns, 12 accumulators ---------------------------------

constexpr int kAvx2Mr = 6, kAvx2Nr = 16;

template <int kRows>
__attribute__((target("avx2,fma"))) void tile_avx2_rows(const float* xp, const float* panel, int64_t kc, float* c,
                                                        int64_t ldc, bool first) {
    __m256 acc[kRows][2];
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m256 w0 = _mm256_loadu_ps(panel + kk * kAvx2Nr);
        const __m256 w1 = _mm256_loadu_ps(panel + kk * kAvx2Nr + 8);
#pragma GCC unroll 16
        for (int i = 0; i < kRows; ++i) {
            const __m256 xi = _mm256_broadcast_ss(xp + kk * kAvx2Mr + i);
            acc[i][0] = _mm256_fmadd_ps(xi, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xi, w1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i) {
        float* row = c + i * ldc;
        if (!first) {
            acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(row));
            acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(row + 8));
        }
        _mm256_storeu_ps(row, acc[i][0]);
        _mm256_storeu_ps(row + 8, acc[i][1]);
    }
}

void tile_avx2(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    with_rows<kAvx2Mr>(mr, [&](auto rows) { tile_avx2_rows<decltype(rows)::value>(xp, panel, kc, c, ldc, first); });
}

// Eight rows of eight floats transposed in registers: rows[i][j] becomes rows[j][i].
__attribute__((target("avx2,fma"), always_inline)) inline void transpose8(__m256 rows[8]) {
    const __m256 a0 = _mm256_unpacklo_ps(rows[0], rows[1]), a1 = _mm256_unpackhi_ps(rows[0], rows[1]);
    const __m256 a2 = _mm256_unpacklo_ps(rows[2], rows[3]), a3 = _mm256_unpackhi_ps(rows[2], rows[3]);
    const __m256 a4 = _mm256_unpacklo_ps(rows[4], rows[5]), a5 = _mm256_unpackhi_ps(rows[4], rows[5]);
    const __m256 a6 = _mm256_unpacklo_ps(rows[6], rows[7]), a7 = _mm256_unpackhi_ps(rows[6], rows[7]);
    const __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
    const __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
    const __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xEE);
    const __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xEE);
    rows[0] = _mm256_permute2f128_ps(b0, b4, 0x20), rows[4] = _mm256_permute2f128_ps(b0, b4, 0x31);
    rows[1] = _mm256_permute2f128_ps(b1, b5, 0x20), rows[5] = _mm256_permute2f128_ps(b1, b5, 0x31);
    rows[2] = _mm256_permute2f128_ps(b2, b6, 0x20), rows[6] = _mm256_permute2f128_ps(b2, b6, 0x31);
    rows[3] = _mm256_permute2f128_ps(b3, b7, 0x20), rows[7] = _mm256_permute2f128_ps(b3, b7, 0x31);
}

// nn.Linear weights into a panel of kNr columns (a panel column is a weight row), eight
// rows by eight inputs at a time, widened and transposed in registers (AMD's Zen cores
// gather slowly: gathering across rows cost a tenth of the product's time on Zen 3, and
// on Zen 5 AVX-512 gathers ran a 1B Llama's products over 32 positions at 0.7x the
// speed of this); inputs past the last multiple of 8 go through the scalar packer's loop.
template <int64_t kNr>
__attribute__((target("avx2,fma"))) void pack_linear_avx2(const Weights& w, int64_t n0, int64_t k0, int64_t kc,
                                                          float* panel) {
    const int64_t eights = kc / 8 * 8;
    for (int64_t kk = 0; kk < eights; kk += 8) {
        for (int64_t part = 0; part < kNr; part += 8) {
            const uint16_t* base = w.w + (n0 + part) * w.in + k0 + kk;
            __m256 rows[8];
            for (int64_t i = 0; i < 8; ++i) {
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i * w.in));
                rows[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
            }
            transpose8(rows);
            for (int64_t j = 0; j < 8; ++j)
                _mm256_storeu_ps(panel + (kk + j) * kNr + part, rows[j]);
        }
    }
    if (eights < kc) pack_panel(w, n0, kNr, kNr, k0 + eights, kc - eights, panel + eights * kNr);
}

// Full-width panels, widened in vector registers: a bfloat16 is the top half of a
// float32.
__attribute__((target("avx2,fma"))) void pack_panel_avx2(const Weights& w, int64_t n0, int64_t k0, int64_t kc,
                                                         float* panel) {
    constexpr int64_t nr = 16;
    if (w.layout == Layout::FloatPanels) {
        pack_panel(w, n0, nr, nr, k0, kc, panel);
    } else if (w.layout == Layout::Panels) { // a half panel row: its even halves, then its odd ones
        for (int64_t kk = 0; kk < kc; ++kk) {
            const __m256i pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half_panel_row(w, n0, k0 + kk)));
            _mm256_storeu_ps(panel + kk * nr, _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16)));
            _mm256_storeu_ps(panel + kk * nr + 8, _mm256_castsi256_ps(_mm256_and_si256(
                                                      pairs, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u)))));
        }
    } else if (w.layout == Layout::Linear) {
        pack_linear_avx2<nr>(w, n0, k0, kc, panel);
    } else {
        for (int64_t kk = 0; kk < kc; ++kk) {
            const uint16_t* src = w.w + (k0 + kk) * w.out + n0;
            for (int64_t h = 0; h < nr; h += 8) {
                const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + h)));
                _mm256_storeu_ps(panel + kk * nr + h, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
            }
        }
    }
}

__attribute__((target("avx512f"))) void pack_panel_avx512(const Weights& w, int64_t n0, int64_t k0, int64_t kc,
                                                          float* panel) {
    constexpr int64_t nr = 32;
    if (w.layout == Layout::FloatPanels) {
        pack_panel(w, n0, nr, nr, k0, kc, panel);
    } else if (w.layout == Layout::Panels) {
        // A whole panel row in one load: lane i holds the pair of columns 16h + i % 8 and
        // 16h + 8 + i % 8 (h = i / 8), so the even halves are columns 0-7 and 16-23, the
        // odd ones 8-15 and 24-31; two 128-bit shuffles put them in order.
        const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
        for (int64_t kk = 0; kk < kc; ++kk) {
            const __m512i pairs = _mm512_loadu_si512(half_panel_row(w, n0, k0 + kk));
            const __m512i even = _mm512_maskz_slli_epi32(0xFFFF, pairs, 16);
            const __m512i odd = _mm512_maskz_and_epi32(0xFFFF, pairs, high);
            _mm512_storeu_ps(panel + kk * nr, _mm512_castsi512_ps(_mm512_maskz_shuffle_i32x4(0xFFFF, even, odd, 0x44)));
            _mm512_storeu_ps(panel + kk * nr + 16,
                             _mm512_castsi512_ps(_mm512_maskz_shuffle_i32x4(0xFFFF, even, odd, 0xEE)));
        }
    } else if (w.layout == Layout::Linear) {
        pack_linear_avx2<nr>(w, n0, k0, kc, panel);
    } else {
        for (int64_t kk = 0; kk < kc; ++kk) {
            const uint16_t* src = w.w + (k0 + kk) * w.out + n0;
            for (int64_t h = 0; h < nr; h += 16) {
                const __m512i v =
                    _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + h)));
                _mm512_storeu_ps(panel + kk * nr + h, _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, v, 16)));
            }
        }
    }
}

// ---- AVX-512: 12 rows × 32 columns, 24 accumulators -----------------------------------

constexpr int kAvx512Mr = 12, kAvx512Nr = 32;

template <int kRows>
__attribute__((target("avx512f"))) void tile_avx512_rows(const float* xp, const float* panel, int64_t kc, float* c,
                                                         int64_t ldc, bool first) {
    __m512 acc[kRows][2];
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; ++kk) {
        const __m512 w0 = _mm512_loadu_ps(panel + kk * kAvx512Nr);
        const __m512 w1 = _mm512_loadu_ps(panel + kk * kAvx512Nr + 16);
#pragma GCC unroll 16
        for (int i = 0; i < kRows; ++i) {
            const __m512 xi = _mm512_set1_ps(xp[kk * kAvx512Mr + i]);
            acc[i][0] = _mm512_fmadd_ps(xi, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xi, w1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < kRows; ++i) {
        float* row = c + i * ldc;
        if (!first) {
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(row));
            acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(row + 16));
        }
        _mm512_storeu_ps(row, acc[i][0]);
        _mm512_storeu_ps(row + 16, acc[i][1]);
    }
}

void tile_avx512(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    with_rows<kAvx512Mr>(mr, [&](auto rows) { tile_avx512_rows<decltype(rows)::value>(xp, panel, kc, c, ldc, first); });
}
#else
constexpr int kAvx2Mr = 4, kAvx2Nr = 16, kAvx512Mr = 4, kAvx512Nr = 16;
void pack_panel_avx2(const Weights& w, int64_t n0, int64_t k0, int64_t kc, float* panel) {
    pack_panel(w, n0, 16, 16, k0, kc, panel);
}
void pack_panel_avx512(const Weights& w, int64_t n0, int64_t k0, int64_t kc, float* panel) {
    pack_panel(w, n0, 16, 16, k0, kc, panel);
}
void tile_avx2(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    tile_portable(xp, mr, panel, kc, c, ldc, first);
}
void tile_avx512(const float* xp, int64_t mr, const float* panel, int64_t kc, float* c, int64_t ldc, bool first) {
    tile_portable(xp, mr, panel, kc, c, ldc, first);
}
#endif

// Rows [m0, m0 + mr) × inputs [k0, k0 + kc) of x into xp[kk * kMr + i], rows past mr
// zero, so that the tile's broadcasts read one contiguous run.
template <int kMr>
void pack_rows(const float* x, int64_t ldx, int64_t m0, int64_t mr, int64_t k0, int64_t kc, float* xp) {
    for (int64_t i = 0; i < mr; ++i) {
        const float* src = x + (m0 + i) * ldx + k0;
        for (int64_t kk = 0; kk < kc; ++kk)
            xp[kk * kMr + i] = src[kk];
    }
    for (int64_t i = mr; i < kMr; ++i)
        for (int64_t kk = 0; kk < kc; ++kk)
            xp[kk * kMr + i] = 0;
}

// Every row of x packed for the tiles, kMr rows at a time, block of inputs by block,
// into this thread's buffer, which also holds the weight panels of one block after
// them. Returns the buffer; the rows packed for inputs [k0, k0 + kc) start at
// xp + groups · kMr · k0, xp = buffer + kNc · kKc.
template <int kMr> float* pack_all_rows(const float* x, int64_t m, int64_t ldx, int64_t in) {
    thread_local std::vector<float> buffer;
    const int64_t groups = (m + kMr - 1) / kMr;
    buffer.resize(static_cast<std::size_t>(kNc * kKc + groups * kMr * in));
    float* xp = buffer.data() + kNc * kKc;
    for (int64_t k0 = 0; k0 < in; k0 += kKc) {
        const int64_t kc = std::min(kKc, in - k0);
        float* block = xp + groups * kMr * k0;
        for (int64_t g = 0; g < groups; ++g)
            pack_rows<kMr>(x, ldx, g * kMr, std::min<int64_t>(kMr, m - g * kMr), k0, kc, block + g * kMr * kc);
    }
    return buffer.data();
}

// Columns [n0, n_end) of c (at most kNc), on one thread, from x packed by
// pack_all_rows into `buffer`. For each block of inputs: its weights widened into
// panels (in L2) and, for each packed row group (in L1), every panel of the block.
// The block's part of c (m x kNc floats) stays in cache from one block of inputs to
// the next instead of crossing memory each time.
template <int kMr, int kNr, class Tile, class Pack>
void gemm_columns(float* buffer, int64_t m, const Weights& w, float* c, int64_t ldc, int64_t n0, int64_t n_end,
                  Tile&& tile, Pack&& pack_full) {
    const int64_t groups = (m + kMr - 1) / kMr;
    float* panels = buffer;
    const float* xp = buffer + kNc * kKc;
    const int64_t nc = n_end - n0;
    for (int64_t k0 = 0; k0 < w.in; k0 += kKc) {
        const int64_t kc = std::min(kKc, w.in - k0);
        const float* block = xp + groups * kMr * k0;
        for (int64_t j0 = 0; j0 < nc; j0 += kNr) {
            const int64_t nr = std::min<int64_t>(kNr, nc - j0);
            if (nr == kNr) {
                pack_full(w, n0 + j0, k0, kc, panels + j0 * kc);
            } else {
                pack_panel(w, n0 + j0, nr, kNr, k0, kc, panels + j0 * kc);
            }
        }
        for (int64_t g = 0; g < groups; ++g) {
            const int64_t m0 = g * kMr, mr = std::min<int64_t>(kMr, m - m0);
            for (int64_t j0 = 0; j0 < nc; j0 += kNr) {
                run_tile<kMr, kNr>(block + g * kMr * kc, mr, panels + j0 * kc, kc, c + m0 * ldc + n0 + j0, ldc,
                                   std::min<int64_t>(kNr, nc - j0), k0 == 0, tile);
            }
        }
    }
}

// The product on the pool: each thread packs every row of x once, then computes
// blocks of kNc columns, shared and taken over as SpinPool::run_chunks says
// (with a fixed split of the columns, every product waited for the slower thread).
// Which columns a block holds never depends on timing, and each column is summed whole
// within one block, so the result does not either.
template <int kMr, int kNr, class Tile, class Pack>
void gemm_on_pool(const float* x, int64_t m, int64_t ldx, const Weights& w, float* c, int64_t ldc, Tile&& tile,
                  Pack&& pack_full) {
    static_assert(kNc % kNr == 0);
    thread_local float* buffer = nullptr; // each thread's own, set by its first chunk
    SpinPool::instance().run_chunks((w.out + kNc - 1) / kNc, [&] { buffer = pack_all_rows<kMr>(x, m, ldx, w.in); },
                                    [&](int64_t chunk) {
                                        const int64_t n0 = chunk * kNc;
                                        gemm_columns<kMr, kNr>(buffer, m, w, c, ldc, n0, std::min(w.out, n0 + kNc),
                                                               tile, pack_full);
                                    });
}

} // namespace

namespace {
void gemm_weights(const float* x, int64_t m, int64_t ldx, const Weights& weights, float* c, int64_t ldc);
} // namespace

void gemm_bf16(const float* x, int64_t m, int64_t in, int64_t ldx, const uint16_t* w, int64_t out, bool linear_layout,
               float* c, int64_t ldc) {
    gemm_weights(x, m, ldx, Weights{w, in, out, linear_layout ? Layout::Linear : Layout::Conv1d}, c, ldc);
}

void gemm_panels_bf16(const float* x, int64_t m, int64_t in, int64_t ldx, const uint16_t* packed, int64_t out, float* c,
                      int64_t ldc) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    gemm_weights(x, m, ldx, Weights{packed, in, out, Layout::Panels}, c, ldc);
}

void gemm_panels(const float* x, int64_t m, int64_t in, int64_t ldx, const float* packed, int64_t out, float* c,
                 int64_t ldc) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    gemm_weights(x, m, ldx, Weights{nullptr, in, out, Layout::FloatPanels, packed}, c, ldc);
}

namespace {
void gemm_weights(const float* x, int64_t m, int64_t ldx, const Weights& weights, float* c, int64_t ldc) {
    const int64_t in = weights.in, out = weights.out;
    if (m <= 0 || out <= 0) return;
    if (in <= 0) {
        for (int64_t i = 0; i < m; ++i)
            std::fill(c + i * ldc, c + i * ldc + out, 0.0f);
        return;
    }
    switch (level()) {
    case Level::Avx512:
        gemm_on_pool<kAvx512Mr, kAvx512Nr>(x, m, ldx, weights, c, ldc, tile_avx512, pack_panel_avx512);
        break;
    case Level::Avx2: gemm_on_pool<kAvx2Mr, kAvx2Nr>(x, m, ldx, weights, c, ldc, tile_avx2, pack_panel_avx2); break;
    case Level::Portable:
#if defined(__x86_64__)
        gemm_on_pool<kSse2Mr, kSse2Nr>(x, m, ldx, weights, c, ldc, tile_sse2, pack_panel_sse2);
#else
        gemm_on_pool<kPortableMr, kPortableNr>(x, m, ldx, weights, c, ldc, tile_portable,
                                               [](const Weights& wt, int64_t n0, int64_t k0, int64_t kc, float* panel) {
                                                   pack_panel(wt, n0, kPortableNr, kPortableNr, k0, kc, panel);
                                               });
#endif
        break;
    }
}
} // namespace

} // namespace hookscope::kernels
