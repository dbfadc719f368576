#pragma once
// Building blocks shared by the architectures. Each takes the hook points it
// fires, so every architecture records through the same code.

#include "bridge/core/model_config.h"
#include "bridge/model/hook_recorder.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kv_cache.h"

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>

#include <algorithm>
#include <vector>

namespace hookscope::layers {

// The type activations take for weights of `weight`'s type: float64 for the reference
// arithmetic (Precision::Float64), else float32 (bfloat16 weights included).
inline at::ScalarType activation_type(const at::Tensor& weight) {
    return weight.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// Whether `t` is plain CPU memory the one-position kernels read: contiguous float32, or
// bfloat16 for a matrix (Precision::BFloat16).
inline bool kernel_readable(const at::Tensor& t) {
    return t.is_contiguous() && t.device().is_cpu() &&
           (t.scalar_type() == at::kFloat || (t.scalar_type() == at::kBFloat16 && t.dim() >= 2));
}

// Whether x holds a single position in float32 on the CPU, which the one-position
// kernels (kernels.h) compute: every decode step after the prompt. `feature_axes`
// trailing axes belong to the position ([D]; [H, Dh] for queries and keys).
inline bool one_position(const at::Tensor& x, int64_t feature_axes = 1) {
    int64_t features = 1;
    for (int64_t axis = x.dim() - feature_axes; axis < x.dim(); ++axis)
        features *= x.size(axis);
    return kernels::decode_kernels_enabled() && x.numel() == features && x.scalar_type() == at::kFloat &&
           x.device().is_cpu();
}

// Whether a kernel may compute `t` through raw pointers: contiguous float32 on the
// CPU that autograd does not follow (a tensor that needs gradients, the trainer's,
// takes LibTorch's ops).
inline bool kernel_writable(const at::Tensor& t) {
    return t.scalar_type() == at::kFloat && t.is_contiguous() && t.device().is_cpu() && !t.requires_grad();
}

// Whether one row of x times w can take the kernels.
inline bool decode_kernel_fits(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return one_position(x) && kernel_readable(w) && (!b.defined() || b.scalar_type() == at::kFloat);
}

// A new float32 tensor for a kernel's result, allocated directly rather than
// through the operator dispatcher: a decode step makes dozens of these, and the
// dispatcher's few microseconds each add up against the products' bandwidth time.
inline at::Tensor new_row(at::IntArrayRef sizes) {
    return at::Tensor(at::detail::empty_cpu(sizes, at::kFloat));
}

// a + b for the residual stream: one position adds plain floats, several go to LibTorch.
inline at::Tensor add(const at::Tensor& a, const at::Tensor& b) {
    if (!one_position(a) || !one_position(b) || a.sizes() != b.sizes() || !a.is_contiguous() || !b.is_contiguous()) {
        return a + b;
    }
    at::Tensor sum = new_row(a.sizes());
    const float *x = a.data_ptr<float>(), *y = b.data_ptr<float>();
    float* out = sum.data_ptr<float>();
    for (int64_t i = 0; i < a.numel(); ++i)
        out[i] = x[i] + y[i];
    return sum;
}

inline const uint16_t* bf16_data(const at::Tensor& w) {
    return reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>());
}
inline const float* data_or_null(const at::Tensor& t) {
    return t.defined() ? t.data_ptr<float>() : nullptr;
}

// y = x · W + b for one vector, W [in, out] (Conv1D layout) in float32 or bfloat16.
inline void matvec_in_out(const at::Tensor& w, const float* x, const float* bias, float* y) {
    if (w.scalar_type() == at::kBFloat16) {
        kernels::gemv_in_out_bf16(bf16_data(w), w.size(0), w.size(1), x, bias, y);
    } else {
        kernels::gemv_in_out(w.data_ptr<float>(), w.size(0), w.size(1), x, bias, y);
    }
}

// y = W · x + b for one vector, W [out, in] (nn.Linear layout) in float32 or bfloat16.
inline void matvec(const at::Tensor& w, const float* x, const float* bias, float* y) {
    if (w.scalar_type() == at::kBFloat16) {
        kernels::gemv_rows_bf16(bf16_data(w), w.size(0), w.size(1), x, bias, y);
    } else {
        kernels::gemv_rows(w.data_ptr<float>(), w.size(0), w.size(1), x, bias, y);
    }
}

// x [N, K] (float32) times a bfloat16 weight, in float32, so no product runs on bfloat16
// inputs and no float32 copy of a whole weight exists: kernels::gemm_bf16 widens the
// weight inside its own cache-sized panels (AVX2, AVX-512); the portable level widens
// panels of a few MB and multiplies each with the float32 BLAS.
// `w` is [out, in] (nn.Linear, `linear_layout`) or [in, out] (Conv1D). Returns [N, out].
at::Tensor widened_product(const at::Tensor& x, const at::Tensor& w, bool linear_layout);

// x2 [M, in] · w [in, out] (+ b [out]) on the BLAS, M padded with zero rows to a
// multiple of 16 and the padding's rows dropped from the result. OpenBLAS takes the
// rows in groups of 16 and runs a count just short of a multiple at up to half the speed
// of the multiple itself: on Zen 3, GPT-2 small's block products over 12 rows took 2.2x
// as long as over 16, over 28 rows 1.8x as long as over 32. A row's result may differ from
// the unpadded product's in the last bits (the BLAS takes small products on other
// kernels, summing in another order), within the rounding of either.
// Whether blas_product pads (default), for benchmarks that compare the two in one run.
void enable_row_padding(bool enabled);
bool row_padding_enabled();

inline at::Tensor blas_product(const at::Tensor& x2, const at::Tensor& w, const at::Tensor& b) {
    const int64_t rows = x2.size(0), padded = row_padding_enabled() ? (rows + 15) / 16 * 16 : rows;
    const at::Tensor x = padded == rows ? x2 : at::constant_pad_nd(x2, {0, 0, 0, padded - rows});
    const at::Tensor y = b.defined() ? at::addmm(b, x, w) : at::mm(x, w);
    return padded == rows ? y : y.narrow(0, 0, rows);
}

// Rows of an embedding table (float32, bfloat16 or float64) for `tokens`, [B,P,D] in
// the activation type.
inline at::Tensor embedding(const at::Tensor& table, const at::Tensor& tokens) {
    return at::embedding(table, tokens).to(activation_type(table));
}

// Conv1D weights in float32 or bfloat16 may be held in the panel layout of kernels.h,
// [out / 32, in, 32], where their one-position products stream faster; every op here
// takes both layouts.
inline bool in_panels(const at::Tensor& w) {
    return w.dim() == 3 && w.size(2) == kernels::kPanelColumns &&
           (w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kFloat);
}
// w [in, out] in float32 or bfloat16 (out a multiple of 32) in the panel layout
// (new_weight_tensor).
at::Tensor to_panels(const at::Tensor& w);
// The [in, out] weight back from its panels.
at::Tensor from_panels(const at::Tensor& packed);

// x [.., in] · W [in, out] + b [out]: Hugging Face Conv1D layout (GPT-2), W possibly in
// the panel layout.
inline at::Tensor conv1d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    const bool panels = in_panels(w);
    const int64_t in = panels ? w.size(1) : w.size(0), out = panels ? w.size(0) * w.size(2) : w.size(1);
    auto sizes = x.sizes().vec();
    sizes.back() = out;
    if (decode_kernel_fits(x, w, b)) { // one position: bandwidth-bound, see kernels.h
        const at::Tensor xc = x.contiguous();
        at::Tensor y = new_row(sizes);
        if (panels && w.scalar_type() == at::kFloat) {
            kernels::gemv_panels(w.data_ptr<float>(), in, out, xc.data_ptr<float>(), data_or_null(b),
                                 y.data_ptr<float>());
        } else if (panels) {
            kernels::gemv_panels_bf16(bf16_data(w), in, out, xc.data_ptr<float>(), data_or_null(b),
                                      y.data_ptr<float>());
        } else {
            matvec_in_out(w, xc.data_ptr<float>(), data_or_null(b), y.data_ptr<float>());
        }
        return y;
    }
    if (panels) {
        const at::Tensor xc = x.reshape({-1, in}).to(at::kFloat).contiguous();
        at::Tensor y = at::empty({xc.size(0), out}, xc.options());
        if (w.scalar_type() == at::kFloat) {
            kernels::gemm_panels(xc.data_ptr<float>(), xc.size(0), in, in, w.data_ptr<float>(), out,
                                 y.data_ptr<float>(), out);
        } else {
            kernels::gemm_panels_bf16(xc.data_ptr<float>(), xc.size(0), in, in, bf16_data(w), out, y.data_ptr<float>(),
                                      out);
        }
        return (b.defined() ? y.add_(b) : y).view(sizes);
    }
    const at::Tensor x2 = x.reshape({-1, w.size(0)});
    if (w.scalar_type() == at::kBFloat16) {
        at::Tensor y = widened_product(x2, w, /*linear_layout=*/false);
        return (b.defined() ? y.add_(b) : y).view(sizes);
    }
    return blas_product(x2, w, b).view(sizes);
}

// nn.Linear weights [out, in] in bfloat16 with more inputs than this are held as column
// blocks, [blocks, out, in / blocks]: block c holds columns [c * in / blocks, (c + 1) *
// in / blocks) of every row. A one-position product reads a thread's rows block after
// block, each a sequential stream beside 8 KB of x at most. Read whole, a row of 8192
// inputs meets 32 KB of x, which with the row itself fills a 48 KB L1: the weights'
// lines evicted x's, and a 1B Llama's MLP down-projection read 0.63-0.69 of a plain sum
// of its bytes, against 0.82 in blocks of 2048 and 0.79 in blocks of 4096 (AVX-512, Zen
// 5, microbenchmark rotating the variants; reading every other row backwards, or two
// rows side by side, read slower still).
constexpr int64_t kMostBlockColumns = 2048;
// How many column blocks `in` inputs are held in: 1 (whole rows) up to most_columns,
// else the fewest blocks of at most most_columns that split `in` evenly into multiples
// of 16 (what the kernels take at a time), or 1 where no count up to 64 does.
int64_t column_block_count(int64_t in, int64_t most_columns = kMostBlockColumns);
// w [out, in] as column blocks (a new tensor, new_weight_tensor) where it is bfloat16,
// needs no gradient and column_block_count says more than one; else w itself.
at::Tensor to_column_blocks(const at::Tensor& w, int64_t most_columns = kMostBlockColumns);
// The [out, in] weight back from its column blocks; a two-dimensional w as it is.
at::Tensor from_column_blocks(const at::Tensor& w);
// x [.., in] · W^T for W in column blocks, the blocks' products summed in order, + b.
at::Tensor column_blocks_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// x [.., in] · W^T + b, W [out, in]: nn.Linear layout (and the unembedding), W possibly
// in column blocks. `b` may be undefined.
inline at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {}) {
    if (w.dim() == 3) return column_blocks_linear(x, w, b);
    auto sizes = x.sizes().vec();
    sizes.back() = w.size(0);
    if (decode_kernel_fits(x, w, b)) {
        const at::Tensor xc = x.contiguous();
        at::Tensor y = new_row(sizes);
        matvec(w, xc.data_ptr<float>(), data_or_null(b), y.data_ptr<float>());
        return y;
    }
    if (w.scalar_type() == at::kBFloat16) {
        at::Tensor y = widened_product(x.reshape({-1, w.size(1)}), w, /*linear_layout=*/true);
        return (b.defined() ? y.add_(b) : y).view(sizes);
    }
    return blas_product(x.reshape({-1, w.size(1)}), w.t(), b).view(sizes);
}

struct NormWeights {
    at::Tensor weight; // [D]
    at::Tensor bias;   // [D]
};

// LayerNorm over the last axis, as TransformerLens computes it: the centred input is
// divided by `scale` = sqrt(var + eps) ([B,P,1], fired and then used), and the norm's
// output (x - mean) / scale * w + b ([B,P,D]) is fired as `normalized`. One position
// with neither hook selected takes the kernel (the same maths).
inline at::Tensor layer_norm(const at::Tensor& x, const NormWeights& w, double eps, HookRecorder& hooks,
                             HookPoint scale, HookPoint normalized) {
    if (one_position(x) && !hooks.wants(scale) && !hooks.wants(normalized) && kernel_readable(w.weight) &&
        kernel_readable(w.bias)) {
        const at::Tensor xc = x.contiguous();
        at::Tensor out = new_row(xc.sizes());
        kernels::layer_norm(xc.data_ptr<float>(), w.weight.data_ptr<float>(), w.bias.data_ptr<float>(), x.size(-1), eps,
                            out.data_ptr<float>());
        return out;
    }
    const at::Tensor centred = x - x.mean(-1, /*keepdim=*/true);
    const at::Tensor s = hooks.fire(scale, (centred.pow(2).mean(-1, /*keepdim=*/true) + eps).sqrt_());
    return hooks.fire(normalized, at::addcmul(w.bias, centred / s, w.weight));
}

// RMSNorm over the last axis, as TransformerLens computes it: x is divided by `scale` =
// sqrt(mean(x^2) + eps) ([B,P,1]), fired as `normalized` ([B,P,D], before the weight),
// then multiplied by the weight. One position with neither hook selected takes the kernel.
inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, HookRecorder& hooks,
                           HookPoint scale, HookPoint normalized) {
    if (one_position(x) && !hooks.wants(scale) && !hooks.wants(normalized) && kernel_readable(weight)) {
        const at::Tensor xc = x.contiguous();
        at::Tensor out = new_row(xc.sizes());
        kernels::rms_norm(xc.data_ptr<float>(), weight.data_ptr<float>(), x.size(-1), eps, out.data_ptr<float>());
        return out;
    }
    const at::Tensor s = hooks.fire(scale, (x.pow(2).mean(-1, /*keepdim=*/true) + eps).sqrt_());
    return weight * hooks.fire(normalized, x / s);
}

// The MLP's activation. GELU's tanh form and SiLU of float32 values take the kernel
// (vectorised and split across the kernel threads at every level, where LibTorch's
// elementwise ops run on its own threads, one in the default split, and without vectors
// below AVX2), within a few ulp of LibTorch's op; a tensor that needs gradients (the
// trainer's) takes LibTorch's op, which autograd can follow.
inline at::Tensor activation(const at::Tensor& x, Activation kind) {
    const bool sigmoid_form = kind == Activation::GeluTanh || kind == Activation::Silu;
    if (sigmoid_form && kernel_writable(x) && kernels::decode_kernels_enabled()) {
        at::Tensor out = new_row(x.sizes());
        kernels::sigmoid_activation(kind == Activation::GeluTanh ? kernels::SigmoidActivation::GeluTanh
                                                                 : kernels::SigmoidActivation::Silu,
                                    x.data_ptr<float>(), x.numel(), out.data_ptr<float>());
        return out;
    }
    switch (kind) {
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::Gelu: return at::gelu(x);
    case Activation::Relu: return at::relu(x);
    case Activation::Silu: return at::silu(x);
    case Activation::QuickGelu: return x * at::sigmoid(1.702 * x);
    }
    return x;
}

// Causal softmax attention of queries q [B,P,H,Dh] at positions start..start+P-1 over
// keys and values [B,Hkv,T,Dh] of positions 0..T-1 (T = start + P): query i sees keys up
// to start + i. Fires attn_scores and pattern ([B,H,P,T]) and z ([B,P,H,Dh]); returns z.
inline at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values, int64_t start,
                                   double scale, int layer, HookRecorder& hooks) {
    const int64_t positions = q.size(1);
    at::Tensor kh = keys, vh = values;
    const int64_t group = q.size(2) / keys.size(1);
    if (group > 1) { // grouped-query attention: each kv head serves `group` query heads
        kh = kh.repeat_interleave(group, 1);
        vh = vh.repeat_interleave(group, 1);
    }
    at::Tensor scores = at::matmul(q.transpose(1, 2), kh.transpose(-1, -2)); // [B,H,P,T]
    if (kernel_writable(scores)) {
        kernels::scale_causal(scores.data_ptr<float>(), scores.size(0) * scores.size(1), positions, scores.size(3),
                              start, static_cast<float>(scale));
    } else {
        scores.mul_(scale);
        const at::Tensor future = at::ones({positions, start + positions}, at::kBool).triu_(start + 1);
        scores.masked_fill_(future, -std::numeric_limits<double>::infinity());
    }
    const HookPoint scores_point = HookPoint::block(Site::AttnScores, layer);
    scores = hooks.fire(scores_point, scores);
    if (hooks.intervenes(scores_point)) { // a changed score never makes a future key visible
        const at::Tensor future = at::ones({positions, start + positions}, at::kBool).triu_(start + 1);
        scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    }
    at::Tensor weights;
    if (kernel_writable(scores)) {
        weights = at::empty_like(scores);
        kernels::softmax_rows(scores.data_ptr<float>(), scores.numel() / scores.size(3), scores.size(3),
                              weights.data_ptr<float>());
    } else {
        weights = at::softmax(scores, -1);
    }
    const at::Tensor pattern = hooks.fire(HookPoint::block(Site::AttnPattern, layer), weights);
    return hooks.fire(HookPoint::block(Site::AttnZ, layer), at::matmul(pattern, vh).transpose(1, 2)); // [B,P,H,Dh]
}

// Attention of q [B,P,H,Dh] over k and v [B,P,Hkv,Dh] and, when decoding, every position
// already in `past` (k and v are appended to it, B = 1, start = past->length()). One
// position whose scores and pattern nobody records takes the attention kernel.
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale, int layer,
                            HookRecorder& hooks, KvCache* past, int64_t start) {
    if (const std::vector<int64_t>* lengths = hooks.packed_lengths()) {
        // Packed sequences: each attends causally to itself alone. The attention
        // matrices are per sequence, so only z, [1, P, H, Dh] over the whole row, fires.
        HookRecorder none;
        std::vector<at::Tensor> parts;
        int64_t first = 0;
        for (const int64_t length : *lengths) {
            const auto part = [&](const at::Tensor& x) { return x.slice(1, first, first + length); };
            parts.push_back(
                causal_attention(part(q), part(k).transpose(1, 2), part(v).transpose(1, 2), 0, scale, layer, none));
            first += length;
        }
        return hooks.fire(HookPoint::block(Site::AttnZ, layer), at::cat(parts, 1));
    }
    if (!past) return causal_attention(q, k.transpose(1, 2), v.transpose(1, 2), 0, scale, layer, hooks);
    if (one_position(q, /*feature_axes=*/2) && !hooks.wants(HookPoint::block(Site::AttnScores, layer)) &&
        !hooks.wants(HookPoint::block(Site::AttnPattern, layer))) {
        const at::Tensor kc = k.contiguous(), vc = v.contiguous(), qc = q.contiguous();
        past->store_row(layer, kc.data_ptr<float>(), vc.data_ptr<float>());
        at::Tensor z = new_row(qc.sizes());
        kernels::attend_one(qc.data_ptr<float>(), past->keys_data(layer), past->values_data(layer), q.size(2),
                            k.size(2), q.size(3), past->capacity(), start + 1, scale, z.data_ptr<float>());
        return hooks.fire(HookPoint::block(Site::AttnZ, layer), z);
    }
    const auto [keys, values] = past->append(layer, k, v);
    return causal_attention(q, keys, values, start, scale, layer, hooks);
}

// After the blocks: when decoding, the cache moves past the new positions; with
// `last_position`, only the last one goes on to the final norm and the unembedding.
inline at::Tensor after_blocks(const at::Tensor& resid, KvCache* past, int64_t positions, bool last_position) {
    if (past) past->advance(positions);
    return last_position ? resid.slice(1, positions - 1) : resid;
}

// The unembedding of the final norm's output, firing unembed.hook_in and hook_out.
inline at::Tensor unembed(const at::Tensor& final, const at::Tensor& w, HookRecorder& hooks) {
    const at::Tensor in = hooks.fire(HookPoint::global(Site::UnembedIn), final);
    return hooks.fire(HookPoint::global(Site::UnembedOut), layers::linear(in, w)); // [B,P,V]
}

} // namespace hookscope::layers
