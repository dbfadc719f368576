#pragma once
// Matrix-vector products for decoding one token, where the weights are read once per
// token and memory bandwidth sets the pace. Library GEMM paths stream these shapes at
// a fraction of the bandwidth, so they are written here: AVX2/FMA when the CPU has it
// (checked at run time), plain loops otherwise, split across the compute threads.
// Plain float pointers, row-major, no aliasing between inputs and output.

#include <cstdint>

namespace hookscope::kernels {

// y[j] = bias[j] + sum_i x[i] * w[i, j];  w [in, out] (Hugging Face Conv1D layout).
// `bias` may be null.
void gemv_in_out(const float* w, int64_t in, int64_t out, const float* x, const float* bias, float* y);

// y[r] = bias[r] + sum_k w[r, k] * x[k];  w [rows, cols] (nn.Linear layout, unembedding).
// `bias` may be null.
void gemv_rows(const float* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y);

// Threads the kernels use (the caller's included); at least 1.
void set_threads(int threads);
int threads();

// Whether the AVX2/FMA paths run on this CPU (false: the portable loops).
bool using_avx2();
// Forces the portable loops (tests compare both paths).
void force_portable(bool portable);

} // namespace hookscope::kernels
