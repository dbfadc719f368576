#pragma once
// Building blocks shared by the architectures. Each takes the hook points it
// fires, so every architecture records through the same code.

#include "bridge/hook_recorder.h"
#include "bridge/kernels.h"
#include "bridge/kv_cache.h"
#include "bridge/model_config.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

namespace hookscope::layers {

// Whether `t` is plain CPU memory the decode kernels read: contiguous float32, or
// bfloat16 for a matrix (Precision::BFloat16).
inline bool kernel_readable(const at::Tensor& t) {
    return t.is_contiguous() && t.device().is_cpu() &&
           (t.scalar_type() == at::kFloat || (t.scalar_type() == at::kBFloat16 && t.dim() >= 2));
}

// Whether one row of x times w can take the decode kernels.
inline bool decode_kernel_fits(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return kernels::decode_kernels_enabled() && x.numel() == x.size(-1) && x.scalar_type() == at::kFloat &&
           x.device().is_cpu() && kernel_readable(w) && (!b.defined() || b.scalar_type() == at::kFloat);
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

// Row `index` of a float32 or bfloat16 table [N, D], as float32 into out[D].
inline void table_row(const at::Tensor& table, int64_t index, float* out) {
    const int64_t d = table.size(1);
    if (table.scalar_type() == at::kBFloat16) {
        const at::BFloat16* row = table.data_ptr<at::BFloat16>() + index * d;
        std::transform(row, row + d, out, [](at::BFloat16 v) { return static_cast<float>(v); });
    } else {
        const float* row = table.data_ptr<float>() + index * d;
        std::copy(row, row + d, out);
    }
}

// Rows of an embedding table (float32 or bfloat16) for `tokens`, as float32 [B,P,D].
inline at::Tensor embedding(const at::Tensor& table, const at::Tensor& tokens) {
    return at::embedding(table, tokens).to(at::kFloat);
}

// x [.., in] · W [in, out] + b [out]: Hugging Face Conv1D layout (GPT-2).
inline at::Tensor conv1d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    auto sizes = x.sizes().vec();
    sizes.back() = w.size(1);
    if (decode_kernel_fits(x, w, b)) { // one position: bandwidth-bound, see kernels.h
        const at::Tensor xc = x.contiguous();
        at::Tensor y = at::empty(sizes, x.options());
        matvec_in_out(w, xc.data_ptr<float>(), data_or_null(b), y.data_ptr<float>());
        return y;
    }
    if (w.scalar_type() == at::kBFloat16) { // x rounded to bfloat16, float32 accumulation and bias
        at::Tensor y = at::mm(x.reshape({-1, w.size(0)}).to(at::kBFloat16), w).to(at::kFloat);
        return (b.defined() ? y.add_(b) : y).view(sizes);
    }
    return at::addmm(b, x.reshape({-1, w.size(0)}), w).view(sizes);
}

// x [.., in] · W^T + b, W [out, in]: nn.Linear layout (and the unembedding). `b` may be undefined.
inline at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {}) {
    if (decode_kernel_fits(x, w, b)) {
        auto sizes = x.sizes().vec();
        sizes.back() = w.size(0);
        const at::Tensor xc = x.contiguous();
        at::Tensor y = at::empty(sizes, x.options());
        matvec(w, xc.data_ptr<float>(), data_or_null(b), y.data_ptr<float>());
        return y;
    }
    if (w.scalar_type() == at::kBFloat16) { // as in conv1d
        at::Tensor y = at::linear(x.to(at::kBFloat16), w).to(at::kFloat);
        return b.defined() ? y.add_(b) : y;
    }
    return at::linear(x, w, b);
}

struct NormWeights {
    at::Tensor weight; // [D]
    at::Tensor bias;   // [D]
};

// LayerNorm over the last axis. Fires `scale` (sqrt(var + eps), [B,P,1]) and
// `normalized` ((x - mean) / scale, before weight and bias, [B,P,D]).
inline at::Tensor layer_norm(const at::Tensor& x, const NormWeights& w, double eps, HookRecorder& hooks,
                             HookPoint scale, HookPoint normalized) {
    auto [normed, mean, rstd] = at::native_layer_norm(x, {x.size(-1)}, {}, {}, eps);
    hooks.capture(scale, [&] { return rstd.reciprocal(); });
    hooks.capture(normalized, normed);
    return at::addcmul(w.bias, normed, w.weight);
}

// RMSNorm over the last axis. Fires `scale` (sqrt(mean(x^2) + eps), [B,P,1]) and
// `normalized` (x / scale, before the weight, [B,P,D]).
inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, HookRecorder& hooks,
                           HookPoint scale, HookPoint normalized) {
    const at::Tensor rstd = at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
    hooks.capture(scale, [&] { return rstd.reciprocal(); });
    const at::Tensor normed = x * rstd;
    hooks.capture(normalized, normed);
    return weight * normed;
}

inline at::Tensor activation(const at::Tensor& x, Activation kind) {
    switch (kind) {
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::Gelu: return at::gelu(x);
    case Activation::Relu: return at::relu(x);
    case Activation::Silu: return at::silu(x);
    case Activation::QuickGelu: return x * at::sigmoid(1.702 * x);
    }
    return x;
}

// Causal softmax attention for one block. q [B,P,H,Dh], k and v [B,P,Hkv,Dh].
// Fires attn_scores and pattern ([B,H,P,P]) and z ([B,P,H,Dh]); returns z.
inline at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                   int layer, HookRecorder& hooks) {
    const int64_t positions = q.size(1);
    const at::Tensor qh = q.transpose(1, 2); // [B,H,P,Dh]
    at::Tensor kh = k.transpose(1, 2);
    at::Tensor vh = v.transpose(1, 2);
    const int64_t group = q.size(2) / k.size(2);
    if (group > 1) { // grouped-query attention: each kv head serves `group` query heads
        kh = kh.repeat_interleave(group, 1);
        vh = vh.repeat_interleave(group, 1);
    }
    at::Tensor scores = at::matmul(qh, kh.transpose(-1, -2)).mul_(scale);
    const at::Tensor future = at::ones({positions, positions}, at::kBool).triu_(1);
    scores.masked_fill_(future, -std::numeric_limits<float>::infinity());
    hooks.capture(HookPoint::block(Site::AttnScores, layer), scores);
    const at::Tensor pattern = at::softmax(scores, -1);
    hooks.capture(HookPoint::block(Site::AttnPattern, layer), pattern);
    const at::Tensor z = at::matmul(pattern, vh).transpose(1, 2); // [B,P,H,Dh]
    hooks.capture(HookPoint::block(Site::AttnZ, layer), z);
    return z;
}

// Attention of new queries q [1,P,H,Dh] at positions start..start+P-1 over every key
// and value so far, keys and values [1,Hkv,start+P,Dh] (from KvCache). Returns z [1,P,H,Dh].
inline at::Tensor attention_with_past(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                                      int64_t start, double scale) {
    const int64_t positions = q.size(1);
    at::Tensor kh = keys, vh = values;
    const int64_t group = q.size(2) / keys.size(1);
    if (group > 1) {
        kh = kh.repeat_interleave(group, 1);
        vh = vh.repeat_interleave(group, 1);
    }
    at::Tensor scores = at::matmul(q.transpose(1, 2), kh.transpose(-1, -2)).mul_(scale); // [1,H,P,T]
    if (positions > 1) { // query i sees keys up to start + i
        const at::Tensor future = at::ones({positions, start + positions}, at::kBool).triu_(start + 1);
        scores.masked_fill_(future, -std::numeric_limits<float>::infinity());
    }
    return at::matmul(at::softmax(scores, -1), vh).transpose(1, 2); // [1,P,H,Dh]
}

// Attention of q over k and v: through the KV cache when decoding (k and v appended
// to it), else causal over the given positions with the score, pattern and z hooks.
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale, int layer,
                            HookRecorder& hooks, KvCache* past, int64_t start) {
    if (!past) return causal_attention(q, k, v, scale, layer, hooks);
    const auto [keys, values] = past->append(layer, k, v);
    return attention_with_past(q, keys, values, start, scale);
}

// After the blocks: when decoding, the cache moves past the new positions and only
// the last one goes on to the unembedding.
inline at::Tensor after_blocks(const at::Tensor& resid, KvCache* past, int64_t positions) {
    if (!past) return resid;
    past->advance(positions);
    return resid.slice(1, positions - 1);
}

// The unembedding of the final norm's output, firing unembed.hook_in and hook_out.
inline at::Tensor unembed(const at::Tensor& final, const at::Tensor& w, HookRecorder& hooks) {
    hooks.capture(HookPoint::global(Site::UnembedIn), final);
    at::Tensor logits = layers::linear(final, w); // [B,P,V]
    hooks.capture(HookPoint::global(Site::UnembedOut), logits);
    return logits;
}

// Elements of the defined tensors of `weights`.
inline int64_t parameter_count(const std::vector<const at::Tensor*>& weights) {
    int64_t n = 0;
    for (const at::Tensor* t : weights)
        n += t->defined() ? t->numel() : 0;
    return n;
}

// Whether the decode kernels can read every defined weight (see kernel_readable).
inline bool raw_weights(const std::vector<const at::Tensor*>& weights) {
    return std::all_of(weights.begin(), weights.end(),
                       [](const at::Tensor* t) { return !t->defined() || kernel_readable(*t); });
}

} // namespace hookscope::layers
