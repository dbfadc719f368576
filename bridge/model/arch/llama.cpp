// Llama, as Hugging Face's LlamaForCausalLM computes it (Mistral and Qwen2 share it):
// RMSNorm, rotary positions on all of each head, grouped-query attention (fewer key
// and value heads than query heads), SwiGLU MLP, nn.Linear weights [out, in]. Qwen2
// adds biases to q, k and v; whichever biases the checkpoint has are used.

#include "bridge/model/arch/llama.h"

#include "bridge/model/layers.h"
#include "bridge/model/rotary.h"

#include <cmath>

namespace hookscope {
namespace {

// The products' weights are nn.Linear ones, [out, in], in column blocks where their rows
// are long (Model::take_linear; layers::linear takes both).
struct LlamaBlock {
    at::Tensor ln1, ln2;                     // RMSNorm weights [D]
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b; // [H*Dh, D], [Hkv*Dh, D] (+ optional biases)
    at::Tensor o_w, o_b;                     // [D, H*Dh] (+ optional bias)
    at::Tensor gate_w, up_w, down_w;         // [M, D], [M, D], [D, M]
};

class Llama final : public Model {
public:
    Llama(ModelConfig config, std::filesystem::path origin, const WeightSource& weights, StageRange range)
        : Model(std::move(config), std::move(origin), weights.fingerprint(), range) {
        const ModelConfig& c = this->config();
        const int64_t d = c.d_model, m = c.d_mlp, q_dim = c.n_heads * c.d_head, kv_dim = c.n_kv_heads * c.d_head;
        const auto w = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_weight(weights, name, shape);
        };
        const auto linear = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_linear(weights, name, shape);
        };
        // A bias is used when the checkpoint has one (Qwen2: q, k, v).
        const auto bias = [&](const std::string& name, int64_t size) {
            return weights.contains(name) ? w(name, {size}) : at::Tensor();
        };
        if (holds_embedding()) embed_ = w("model.embed_tokens.weight", {c.d_vocab, d});
        inv_freq_ = rotary::inverse_frequencies(c);
        for (int i = stage().first; i < stage().end; ++i) {
            const std::string l = "model.layers." + std::to_string(i) + ".";
            blocks_.push_back({
                .ln1 = w(l + "input_layernorm.weight", {d}),
                .ln2 = w(l + "post_attention_layernorm.weight", {d}),
                .q_w = linear(l + "self_attn.q_proj.weight", {q_dim, d}),
                .q_b = bias(l + "self_attn.q_proj.bias", q_dim),
                .k_w = linear(l + "self_attn.k_proj.weight", {kv_dim, d}),
                .k_b = bias(l + "self_attn.k_proj.bias", kv_dim),
                .v_w = linear(l + "self_attn.v_proj.weight", {kv_dim, d}),
                .v_b = bias(l + "self_attn.v_proj.bias", kv_dim),
                .o_w = linear(l + "self_attn.o_proj.weight", {d, q_dim}),
                .o_b = bias(l + "self_attn.o_proj.bias", d),
                .gate_w = linear(l + "mlp.gate_proj.weight", {m, d}),
                .up_w = linear(l + "mlp.up_proj.weight", {m, d}),
                .down_w = linear(l + "mlp.down_proj.weight", {d, m}),
            });
        }
        if (!holds_readout()) return;
        norm_ = w("model.norm.weight", {d});
        // Tied checkpoints may still carry lm_head.weight; untied ones must.
        if (!c.tie_word_embeddings || weights.contains("lm_head.weight")) {
            unembed_ = w("lm_head.weight", {c.d_vocab, d});
        } else {
            unembed_ = holds_embedding() ? embed_ : w("model.embed_tokens.weight", {c.d_vocab, d});
        }
    }

protected:
    ReadoutWeights gather_readout_weights() const override {
        const ModelConfig& c = config();
        ReadoutWeights r{true, norm_, {}, unembed_, {}, {}};
        for (const LlamaBlock& b : blocks_) // o_proj: [D, H*Dh], nn.Linear
            r.layers.push_back(
                {layers::from_column_blocks(b.o_w).t().reshape({c.n_heads, c.d_head, c.d_model}), b.o_b, {}});
        return r;
    }

    at::Tensor embed(const at::Tensor& tokens, int64_t /*start*/, HookRecorder& hooks) const override {
        return hooks.fire(HookPoint::global(Site::Embed), layers::embedding(embed_, tokens)); // [B,P,D]
    }

    at::Tensor run_blocks(const at::Tensor& input, int first, int end, int64_t start, HookRecorder& hooks,
                          KvCache* past) const override {
        const ModelConfig& c = config();
        const int64_t positions = input.size(1);
        const rotary::Angles angles = hooks.packed_lengths() ? rotary::angles(c, inv_freq_, hooks.packed_positions())
                                                             : rotary::angles(c, inv_freq_, start, positions);
        at::Tensor resid = input;
        for (int i = first; i < end; ++i)
            resid = block(resid, i, hooks, past, start, angles);
        return resid;
    }

    at::Tensor readout(const at::Tensor& resid, HookRecorder& hooks) const override {
        const at::Tensor final =
            layers::rms_norm(resid, norm_, config().norm_eps, hooks, HookPoint::global(Site::LnFinalScale),
                             HookPoint::global(Site::LnFinalNormalized));
        return layers::unembed(final, unembed_, hooks);
    }

private:
    at::Tensor block(const at::Tensor& resid, int i, HookRecorder& hooks, KvCache* past, int64_t start,
                     const rotary::Angles& angles) const {
        const ModelConfig& c = config();
        const LlamaBlock& b = blocks_[static_cast<std::size_t>(i - stage().first)];
        const auto hook = [i](Site site) { return HookPoint::block(site, i); };
        const at::Tensor resid_pre = hooks.fire(hook(Site::ResidPre), resid);
        const int64_t batch = resid_pre.size(0), pos = resid_pre.size(1);

        // Attention.
        const at::Tensor x1 =
            layers::rms_norm(resid_pre, b.ln1, c.norm_eps, hooks, hook(Site::Ln1Scale), hook(Site::Ln1Normalized));
        const at::Tensor q =
            hooks.fire(hook(Site::AttnQ), layers::linear(x1, b.q_w, b.q_b).view({batch, pos, c.n_heads, c.d_head}));
        const at::Tensor k =
            hooks.fire(hook(Site::AttnK), layers::linear(x1, b.k_w, b.k_b).view({batch, pos, c.n_kv_heads, c.d_head}));
        const at::Tensor v =
            hooks.fire(hook(Site::AttnV), layers::linear(x1, b.v_w, b.v_b).view({batch, pos, c.n_kv_heads, c.d_head}));
        const at::Tensor rot_q = hooks.fire(hook(Site::AttnRotQ), rotary::apply(q, angles));
        const at::Tensor rot_k = hooks.fire(hook(Site::AttnRotK), rotary::apply(k, angles));
        const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_head));
        const at::Tensor z = layers::attention(rot_q, rot_k, v, scale, i, hooks, past, start);
        const at::Tensor attn_out = hooks.fire(
            hook(Site::AttnOut), layers::linear(z.reshape({batch, pos, c.n_heads * c.d_head}), b.o_w, b.o_b));
        const at::Tensor resid_mid = hooks.fire(hook(Site::ResidMid), layers::add(resid_pre, attn_out));

        // SwiGLU MLP.
        const at::Tensor x2 =
            layers::rms_norm(resid_mid, b.ln2, c.norm_eps, hooks, hook(Site::Ln2Scale), hook(Site::Ln2Normalized));
        const at::Tensor pre = hooks.fire(hook(Site::MlpPre), layers::linear(x2, b.gate_w));
        const at::Tensor pre_linear = hooks.fire(hook(Site::MlpPreLinear), layers::linear(x2, b.up_w));
        const at::Tensor post = hooks.fire(hook(Site::MlpPost), layers::activation(pre, c.activation) * pre_linear);
        const at::Tensor mlp_out = hooks.fire(hook(Site::MlpOut), layers::linear(post, b.down_w));
        return hooks.fire(hook(Site::ResidPost), layers::add(resid_mid, mlp_out));
    }

    at::Tensor embed_, unembed_, norm_, inv_freq_;
    std::vector<LlamaBlock> blocks_;
};

} // namespace

std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                  StageRange stage) {
    return std::make_unique<Llama>(std::move(config), std::move(origin), weights, stage);
}

std::unique_ptr<Model> make_llama(ModelConfig config, const WeightSource& weights, std::filesystem::path origin) {
    const StageRange all{0, static_cast<int>(config.n_layers)};
    return make_llama(std::move(config), weights, std::move(origin), all);
}

} // namespace hookscope
