#pragma once
// Matrix-vector products for decoding one token, where the weights are read once per
// token and memory bandwidth sets the pace. Library GEMM paths stream these shapes at
// a fraction of the bandwidth, so they are written here: AVX-512 or AVX2/FMA when the
// CPU has them (checked at run time), otherwise SSE2 for bfloat16 weights on x86-64 and
// plain loops for the rest, split across the compute threads.
// Plain float pointers, row-major, no aliasing between inputs and output.

#include <cstdint>
#include <optional>

namespace hookscope::kernels {

// y[j] = bias[j] + sum_i x[i] * w[i, j];  w [in, out] (Hugging Face Conv1D layout).
// `bias` may be null.
void gemv_in_out(const float* w, int64_t in, int64_t out, const float* x, const float* bias, float* y);

// y[r] = bias[r] + sum_k w[r, k] * x[k];  w [rows, cols] (nn.Linear layout, unembedding).
// `bias` may be null.
void gemv_rows(const float* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y);

// As gemv_rows with bfloat16 weights (raw 16-bit patterns, row-major), widened to
// float32 as they are read: half the bytes of float32 weights, float32 arithmetic.
void gemv_rows_bf16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y);

// As gemv_rows_bf16 on a weight held as column blocks: w [blocks, rows, block_cols]
// holds columns [c * block_cols, (c + 1) * block_cols) of every row in block c, and
// y[r] = bias[r] + the sum over c of w[c, r, :] · x[c * block_cols, ...]. block_cols is
// a multiple of 16 when blocks > 1. A thread's rows are read block after block, each a
// sequential stream over a part of x small enough to stay in L1 beside it (see
// layers::to_column_blocks).
void gemv_column_blocks_bf16(const uint16_t* w, int64_t blocks, int64_t rows, int64_t block_cols, const float* x,
                             const float* bias, float* y);

// As gemv_in_out with bfloat16 weights, widened to float32 as they are read.
void gemv_in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, const float* bias, float* y);

// The panel layout of bfloat16 Conv1D weights [in, out], for one-position products that
// read each thread's share of a weight as one sequential stream with the sums held in
// registers (the [in, out] layout read 8 rows at a time ran 0.8 of the bandwidth
// probe's rate on Zen 3, panels 0.9-0.97). out must be a multiple of kPanelColumns:
// panel p holds columns [32p, 32p + 32) as [in][32]; within each 16-column half, slot
// 2i holds column i and slot 2i + 1 column 8 + i, so widening the even and the odd
// halves of 32-bit lanes gives the columns in order.
constexpr int64_t kPanelColumns = 32;
// The column of a panel's slot s (0 <= s < kPanelColumns).
constexpr int64_t panel_column(int64_t s) {
    return 16 * (s / 16) + (s % 16) / 2 + 8 * (s % 2);
}
// packed [out / 32, in, 32] from w [in, out] (raw bfloat16 patterns).
void pack_panels_bf16(const uint16_t* w, int64_t in, int64_t out, uint16_t* packed);
// w [in, out] back from its panels.
void unpack_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, uint16_t* w);
// As gemv_in_out_bf16 on weights in the panel layout.
void gemv_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y);

// The same panels for float32 weights, [out / 32, in, 32], each panel's columns in
// natural order. Against [in, out] read four rows at a time, the one-position product
// gives every output to one thread (no partial sums, so the same bits on any thread
// count) and lets a thread that is done take another's panels: GPT-2's float32 decode
// ran 4% faster at AVX2 on Zen 3, and at the same speed at the portable level.
void pack_panels(const float* w, int64_t in, int64_t out, float* packed);
void unpack_panels(const float* packed, int64_t in, int64_t out, float* w);
// As gemv_in_out on weights in the float32 panel layout.
void gemv_panels(const float* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y);

// dst[r, c] = float32(src[r * src_stride + c]) for a rows x cols block of bfloat16
// values (raw 16-bit patterns); dst is contiguous [rows, cols]. Exact: every bfloat16
// is a float32. Off x86-64, products over several positions widen their weights panel
// by panel with this and multiply in float32, so no product ever runs on bfloat16 inputs.
void widen_bf16(const uint16_t* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst);

// c[i, j] = sum_k x[i, k] * W(j, k) for i < m, j < out: x [m, in] float32 with row
// stride ldx, c with row stride ldc, and bfloat16 weights (raw 16-bit patterns) W(j, k)
// = w[j, k] for w [out, in] (`linear_layout`, nn.Linear) or w[k, j] for w [in, out]
// (Conv1D). Weights are widened to float32 as they are packed; all arithmetic is float32.
void gemm_bf16(const float* x, int64_t m, int64_t in, int64_t ldx, const uint16_t* w, int64_t out, bool linear_layout,
               float* c, int64_t ldc);

// As gemm_bf16 with Conv1D weights in the panel layout (out a multiple of kPanelColumns).
void gemm_panels_bf16(const float* x, int64_t m, int64_t in, int64_t ldx, const uint16_t* packed, int64_t out, float* c,
                      int64_t ldc);
// The same with float32 weights in their panel layout: the blocked kernel copies
// them into its cache-sized panels as it widens bfloat16 ones.
void gemm_panels(const float* x, int64_t m, int64_t in, int64_t ldx, const float* packed, int64_t out, float* c,
                 int64_t ldc);

// LayerNorm of one vector: out = (x - mean) / sqrt(var + eps) * w + b, over n values.
void layer_norm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out);

// RMSNorm of one vector: out = x / sqrt(mean(x^2) + eps) * w, over n values.
void rms_norm(const float* x, const float* w, int64_t n, double eps, float* out);

// log(sum_i exp(x[i])) over n values, computed as max + log(sum exp(x[i] - max)) so
// that nothing overflows; vectorised for the level in use (a polynomial exp within 2
// ulp there, std::exp in the portable loop). NaN in, NaN out.
float log_sum_exp(const float* x, int64_t n);

// The k largest of x[0, n) for k <= kTopKListed, largest first (of equal values the
// lower index first), in one pass that keeps a sorted list a value must beat to enter;
// NaN never enters. Writes ids[0, found) and values[0, found) and returns found, which
// is less than k only when x holds fewer than k numbers.
constexpr int64_t kTopKListed = 64;
int64_t top_k(const float* x, int64_t n, int64_t k, int64_t* ids, float* values);

// Softmax of each of `rows` rows of n values: out[r, :] = exp(x[r, :] - max) / sum,
// -inf giving exactly 0; split across the kernel threads. Exp as in log_sum_exp.
void softmax_rows(const float* x, int64_t rows, int64_t n, float* out);
// The same for one row on the calling thread (for work already split across the
// kernel threads); out may be x.
void softmax_row(const float* x, int64_t n, float* out);

// Attention scores [heads, positions, keys] of queries at positions start.., in place:
// a query at position p keeps keys 0..p, multiplied by `scale`, and the later keys
// become -inf. Split across the kernel threads.
void scale_causal(float* scores, int64_t heads, int64_t positions, int64_t keys, int64_t start, float scale);

// x * sigmoid(z(x)) for each of n values, out may be x: GELU's tanh form (Hugging Face's
// gelu_new, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), where z is twice tanh's
// argument, or SiLU, where z = x. Vectorised at every level on x86-64 (a polynomial exp
// with Cephes' coefficients, in SSE2 or AVX2, taking exp below -87.3 as 0; std::exp for
// a tail shorter than a vector), within a few ulp; split across the kernel threads for
// large n.
enum class SigmoidActivation { GeluTanh, Silu };
void sigmoid_activation(SigmoidActivation kind, const float* x, int64_t n, float* out);

// Rotary embedding of one position, in place, rotate-half convention: for each of
// `heads` heads of `d_head` values, pairs (i, i + dims/2) for i < dims/2 turn by the
// angle whose cosine and sine are cos[i], sin[i].
void rotate_half(float* x, int64_t heads, int64_t d_head, int64_t dims, const float* cos, const float* sin);

// Attention of one new query over `length` cached positions. q and z are [heads, d_head];
// keys and values are [kv_heads, capacity, d_head] (KvCache's layout), query head h
// reading kv head h / (heads / kv_heads). z = softmax(scale * q·K^T) · V, per head.
void attend_one(const float* q, const float* keys, const float* values, int64_t heads, int64_t kv_heads, int64_t d_head,
                int64_t capacity, int64_t length, double scale, float* z);

// The size of the chunks one-position products split their work into, in units of
// unit_bytes (a row, a panel), a multiple of `align`: a sixteenth of a thread's share
// of n units, enough to even out threads that read at different speeds, and at least
// 64 KB of weights. Each chunk is a fresh kernel call whose prefetching starts over:
// 64 KB chunks of a 1B Llama's 8 KB rows decoded 5-7% slower with the vector kernels
// and up to 25% slower with the portable ones than chunks of a sixteenth of a share.
int64_t chunk_of(int64_t n, int64_t unit_bytes, int64_t align);

// Threads the kernels use (the caller's included); at least 1.
void set_threads(int threads);
int threads();

// Whether one-position products, and the activations of any shape, go to these kernels
// (default) or to LibTorch's ops, for benchmarks that compare the two in one run.
void enable_decode_kernels(bool enabled);
bool decode_kernels_enabled();

// The instruction sets the kernels may use, in order.
enum class Level { Portable, Avx2, Avx512 };
// What runs: the best this CPU has (checked at run time), at most the cap.
Level level();
// The best level this CPU has, whatever the cap.
Level cpu_level();
// Caps the level. The cap starts as the environment variable HOOKSCOPE_KERNELS
// (portable, avx2 or avx512) says, else none: the tests run every level the CPU has,
// each in a process of its own, under it.
void cap_level(Level cap);
const char* level_name(Level level);
// The level HOOKSCOPE_KERNELS names; empty when it is unset. Throws std::invalid_argument
// naming the variable and the accepted values when it holds anything else.
std::optional<Level> level_from_environment();

} // namespace hookscope::kernels
