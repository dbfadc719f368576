#pragma once
// The AVX2 + FMA (avx2_kernels.cpp) and AVX-512 (avx512_kernels.cpp) levels of the
// one-position products, which kernels.cpp splits across the kernel threads: each call
// computes one slice on the calling thread, with the same arguments as the portable
// loops (portable_kernels.h) it falls back to for what its vectors do not cover. Off
// x86-64 no processor reaches these levels: the portable loops stand in for them there,
// and the AVX2 loops over paired bfloat16, which nothing else computes, refuse.

#include <cstdint>

namespace hookscope::kernels {

// y[c0, c1) += sum_i x[i] * w[i, j], w [in, out].
void in_out_avx2(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);
void in_out_avx512(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);
void in_out_bf16_avx512(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);
// The same over every column, y in paired order (kernels.cpp's to_paired) over its whole
// blocks of kPairBlock.
void in_out_bf16_avx2(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y);

// y[r] += sum_k w[r, k] * x[k] for r in [r0, r1), w [rows, cols].
void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1);
void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1);
void rows_bf16_avx512(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1);
// The same reading x_paired, x in paired order over its whole blocks.
void rows_bf16_avx2(const uint16_t* w, int64_t cols, const float* x, const float* x_paired, float* y, int64_t r0,
                    int64_t r1);

// y[32p, 32p + 32) = bias + x · panel p for p in [p0, p1), panels as kernels.h lays them
// out; bias may be null.
void panels_bf16_avx2(const uint16_t* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0,
                      int64_t p1);
void panels_avx2(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1);

} // namespace hookscope::kernels
