#pragma once
// The portable level of the one-position products, for every processor: plain C++ that
// compilers vectorise for the baseline instruction set, and for bfloat16 weights on
// x86-64 SSE2 (which every x86-64 processor has), since the plain loops leave the
// widening of each weight to the compiler, which spends more instructions on it than
// memory gives time for. The vector levels (vector_levels.h) fall back to these for the
// rows and columns their vectors do not cover.

#include <cstdint>

namespace hookscope::kernels::portable {

// y[c0, c1) += sum_i x[i] * w[i, j], w [in, out].
void in_out(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);
void in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);

// y[32p, 32p + 32) = bias + x · panel p for p in [p0, p1), panels as kernels.h lays
// them out; bias may be null.
void panels_bf16(const uint16_t* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0,
                 int64_t p1);
void panels(const float* packed, int64_t in, const float* x, const float* bias, float* y, int64_t p0, int64_t p1);

// y[r] += sum_k w[r, k] * x[k] for r in [r0, r1), w [rows, cols].
void rows(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1);
// x_paired: x in the paired order of kernels.cpp's to_paired, which the x86-64 loop reads
// (others read x).
void rows_bf16(const uint16_t* w, int64_t cols, const float* x, const float* x_paired, float* y, int64_t r0,
               int64_t r1);

} // namespace hookscope::kernels::portable
