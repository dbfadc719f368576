#pragma once
// One-position products with bfloat16 weights for the portable level on x86-64, in
// SSE2 (which every x86-64 processor has): the plain loops leave the widening of each
// weight to the compiler, which spends more instructions on it than memory gives time
// for. Same contracts as the portable loops in kernels.cpp (y accumulates).

#include <cstdint>

namespace hookscope::kernels::baseline {

// Defined on x86-64 only; elsewhere the plain loops run.

// y[c0, c1) += sum_i x[i] * w[i, j], w [in, out] bfloat16.
void in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1);

// y[r] += sum_k w[r, k] * x[k] for r in [r0, r1), w [rows, cols] bfloat16.
void rows_bf16(const uint16_t* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1);

} // namespace hookscope::kernels::baseline
