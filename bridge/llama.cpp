// Llama, as Hugging Face's LlamaForCausalLM computes it (Mistral and Qwen2 share it):
// RMSNorm, rotary positions on all of each head, grouped-query attention (fewer key
// and value heads than query heads), SwiGLU MLP, nn.Linear weights [out, in]. Qwen2
// adds biases to q, k and v; whichever biases the checkpoint has are used.

#include "bridge/llama.h"

#include "bridge/kernels.h"
#include "bridge/kv_cache.h"
#include "bridge/layers.h"
#include "bridge/rotary.h"

#include <algorithm>
#include <cmath>

namespace hookscope {
namespace {

struct LlamaBlock {
    at::Tensor ln1, ln2;                     // RMSNorm weights [D]
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b; // [H*Dh, D], [Hkv*Dh, D] (+ optional biases)
    at::Tensor o_w, o_b;                     // [D, H*Dh] (+ optional bias)
    at::Tensor gate_w, up_w, down_w;         // [M, D], [M, D], [D, M]
};

class Llama final : public Model {
public:
    Llama(ModelConfig config, std::filesystem::path origin, const WeightSource& weights)
        : Model(std::move(config), std::move(origin), weights.fingerprint()) {
        const ModelConfig& c = this->config();
        const int64_t d = c.d_model, m = c.d_mlp, q_dim = c.n_heads * c.d_head, kv_dim = c.n_kv_heads * c.d_head;
        const auto w = [&](const std::string& name, std::vector<int64_t> shape) { return weights.weight(name, shape); };
        // A bias is used when the checkpoint has one (Qwen2: q, k, v).
        const auto bias = [&](const std::string& name, int64_t size) {
            return weights.contains(name) ? w(name, {size}) : at::Tensor();
        };
        embed_ = w("model.embed_tokens.weight", {c.d_vocab, d});
        for (int64_t i = 0; i < c.n_layers; ++i) {
            const std::string l = "model.layers." + std::to_string(i) + ".";
            blocks_.push_back({
                .ln1 = w(l + "input_layernorm.weight", {d}),
                .ln2 = w(l + "post_attention_layernorm.weight", {d}),
                .q_w = w(l + "self_attn.q_proj.weight", {q_dim, d}),
                .q_b = bias(l + "self_attn.q_proj.bias", q_dim),
                .k_w = w(l + "self_attn.k_proj.weight", {kv_dim, d}),
                .k_b = bias(l + "self_attn.k_proj.bias", kv_dim),
                .v_w = w(l + "self_attn.v_proj.weight", {kv_dim, d}),
                .v_b = bias(l + "self_attn.v_proj.bias", kv_dim),
                .o_w = w(l + "self_attn.o_proj.weight", {d, q_dim}),
                .o_b = bias(l + "self_attn.o_proj.bias", d),
                .gate_w = w(l + "mlp.gate_proj.weight", {m, d}),
                .up_w = w(l + "mlp.up_proj.weight", {m, d}),
                .down_w = w(l + "mlp.down_proj.weight", {d, m}),
            });
        }
        norm_ = w("model.norm.weight", {d});
        // Tied checkpoints may still carry lm_head.weight; untied ones must.
        unembed_ =
            c.tie_word_embeddings && !weights.contains("lm_head.weight") ? embed_ : w("lm_head.weight", {c.d_vocab, d});
        inv_freq_ = rotary::inverse_frequencies(c);

        set_weights(all_weights());
    }

    ReadoutWeights readout_weights() const override {
        const ModelConfig& c = config();
        ReadoutWeights r{true, norm_, {}, unembed_, {}, {}};
        for (const LlamaBlock& b : blocks_) // o_proj: [D, H*Dh], nn.Linear
            r.layers.push_back({b.o_w.t().reshape({c.n_heads, c.d_head, c.d_model}), b.o_b, {}});
        return r;
    }

protected:
    at::Tensor forward_with_hooks(const at::Tensor& tokens, int64_t start, HookRecorder& hooks,
                                  KvCache* past) const override {
        const ModelConfig& c = config();
        const int64_t positions = tokens.size(1);
        const rotary::Angles angles = rotary::angles(c, inv_freq_, start, positions);

        const at::Tensor embed = layers::embedding(embed_, tokens); // [B,P,D]
        hooks.capture(HookPoint::global(Site::Embed), embed);
        at::Tensor resid = embed;
        for (int i = 0; i < static_cast<int>(blocks_.size()); ++i)
            resid = block(resid, i, hooks, past, start, angles);
        if (past) { // decoding: only the last position's logits are needed
            past->advance(positions);
            resid = resid.slice(1, positions - 1);
        }

        const at::Tensor final =
            layers::rms_norm(resid, norm_, c.norm_eps, hooks, HookPoint::global(Site::LnFinalScale),
                             HookPoint::global(Site::LnFinalNormalized));
        hooks.capture(HookPoint::global(Site::UnembedIn), final);
        const at::Tensor logits = layers::linear(final, unembed_); // [B,P,V]
        hooks.capture(HookPoint::global(Site::UnembedOut), logits);
        return logits;
    }

private:
    at::Tensor block(const at::Tensor& resid_pre, int i, HookRecorder& hooks, KvCache* past, int64_t start,
                     const rotary::Angles& angles) const {
        const ModelConfig& c = config();
        const LlamaBlock& b = blocks_[static_cast<std::size_t>(i)];
        const auto hook = [i](Site site) { return HookPoint::block(site, i); };
        hooks.capture(hook(Site::ResidPre), resid_pre);
        const int64_t batch = resid_pre.size(0), pos = resid_pre.size(1);

        // Attention.
        const at::Tensor x1 =
            layers::rms_norm(resid_pre, b.ln1, c.norm_eps, hooks, hook(Site::Ln1Scale), hook(Site::Ln1Normalized));
        const at::Tensor q = layers::linear(x1, b.q_w, b.q_b).view({batch, pos, c.n_heads, c.d_head});
        const at::Tensor k = layers::linear(x1, b.k_w, b.k_b).view({batch, pos, c.n_kv_heads, c.d_head});
        const at::Tensor v = layers::linear(x1, b.v_w, b.v_b).view({batch, pos, c.n_kv_heads, c.d_head});
        hooks.capture(hook(Site::AttnQ), q);
        hooks.capture(hook(Site::AttnK), k);
        hooks.capture(hook(Site::AttnV), v);
        const at::Tensor rot_q = rotary::apply(q, angles), rot_k = rotary::apply(k, angles);
        hooks.capture(hook(Site::AttnRotQ), rot_q);
        hooks.capture(hook(Site::AttnRotK), rot_k);
        const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_head));
        const at::Tensor z = layers::attention(rot_q, rot_k, v, scale, i, hooks, past, start);
        const at::Tensor attn_out = layers::linear(z.reshape({batch, pos, c.n_heads * c.d_head}), b.o_w, b.o_b);
        hooks.capture(hook(Site::AttnOut), attn_out);
        const at::Tensor resid_mid = resid_pre + attn_out;
        hooks.capture(hook(Site::ResidMid), resid_mid);

        // SwiGLU MLP.
        const at::Tensor x2 =
            layers::rms_norm(resid_mid, b.ln2, c.norm_eps, hooks, hook(Site::Ln2Scale), hook(Site::Ln2Normalized));
        const at::Tensor pre = layers::linear(x2, b.gate_w);
        hooks.capture(hook(Site::MlpPre), pre);
        const at::Tensor pre_linear = layers::linear(x2, b.up_w);
        hooks.capture(hook(Site::MlpPreLinear), pre_linear);
        const at::Tensor post = layers::activation(pre, c.activation) * pre_linear;
        hooks.capture(hook(Site::MlpPost), post);
        const at::Tensor mlp_out = layers::linear(post, b.down_w);
        hooks.capture(hook(Site::MlpOut), mlp_out);
        const at::Tensor resid_post = resid_mid + mlp_out;
        hooks.capture(hook(Site::ResidPost), resid_post);
        return resid_post;
    }

    // Every weight once (a tied unembedding is the embedding).
    std::vector<const at::Tensor*> all_weights() const {
        std::vector<const at::Tensor*> all{&embed_, &norm_};
        if (!unembed_.is_same(embed_)) all.push_back(&unembed_);
        for (const auto& b : blocks_) {
            for (const at::Tensor* t : {&b.ln1, &b.ln2, &b.q_w, &b.q_b, &b.k_w, &b.k_b, &b.v_w, &b.v_b, &b.o_w, &b.o_b,
                                        &b.gate_w, &b.up_w, &b.down_w})
                all.push_back(t);
        }
        return all;
    }

    // block() on plain buffers, for one position (see Model::decode_one).
    at::Tensor decode_one(int64_t token, KvCache& past) const override {
        const ModelConfig& c = config();
        const int64_t d = c.d_model, m = c.d_mlp, pos = past.length();
        const int64_t q_dim = c.n_heads * c.d_head, kv_dim = c.n_kv_heads * c.d_head;
        const auto f = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
        std::vector<float> resid(d);
        layers::table_row(embed_, token, resid.data());
        std::vector<float> x(d), q(q_dim), k(kv_dim), v(kv_dim), z(q_dim), out(d);
        std::vector<float> cos(c.rotary_dims / 2), sin(c.rotary_dims / 2);
        rotary::position_angles(c, inv_freq_, pos, cos.data(), sin.data());
        const at::Tensor gate = at::empty({m}, at::kFloat), up = at::empty({m}, at::kFloat);
        const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_head));
        for (int i = 0; i < static_cast<int>(blocks_.size()); ++i) {
            const LlamaBlock& b = blocks_[static_cast<std::size_t>(i)];
            kernels::rms_norm(resid.data(), f(b.ln1), d, c.norm_eps, x.data());
            layers::matvec(b.q_w, x.data(), f(b.q_b), q.data());
            layers::matvec(b.k_w, x.data(), f(b.k_b), k.data());
            layers::matvec(b.v_w, x.data(), f(b.v_b), v.data());
            kernels::rotate_half(q.data(), c.n_heads, c.d_head, c.rotary_dims, cos.data(), sin.data());
            kernels::rotate_half(k.data(), c.n_kv_heads, c.d_head, c.rotary_dims, cos.data(), sin.data());
            past.store_row(i, k.data(), v.data());
            kernels::attend_one(q.data(), past.keys_data(i), past.values_data(i), c.n_heads, c.n_kv_heads, c.d_head,
                                past.capacity(), pos + 1, scale, z.data());
            layers::matvec(b.o_w, z.data(), f(b.o_b), out.data());
            for (int64_t j = 0; j < d; ++j)
                resid[j] += out[j];
            kernels::rms_norm(resid.data(), f(b.ln2), d, c.norm_eps, x.data());
            layers::matvec(b.gate_w, x.data(), nullptr, f(gate));
            layers::matvec(b.up_w, x.data(), nullptr, f(up));
            const at::Tensor post = (layers::activation(gate, c.activation) * up).contiguous();
            layers::matvec(b.down_w, f(post), nullptr, out.data());
            for (int64_t j = 0; j < d; ++j)
                resid[j] += out[j];
        }
        past.advance(1);
        kernels::rms_norm(resid.data(), f(norm_), d, c.norm_eps, x.data());
        at::Tensor logits = at::empty({1, 1, c.d_vocab}, at::kFloat);
        layers::matvec(unembed_, x.data(), nullptr, f(logits));
        return logits;
    }

    at::Tensor embed_, unembed_, norm_, inv_freq_;
    std::vector<LlamaBlock> blocks_;
};

} // namespace

std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin) {
    return std::make_unique<Llama>(std::move(config), std::move(origin), weights);
}

} // namespace hookscope
