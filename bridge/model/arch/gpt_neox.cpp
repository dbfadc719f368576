// GPT-NeoX (Pythia), as Hugging Face's GPTNeoXForCausalLM computes it: LayerNorm,
// rotary positions on part of each head, attention and MLP side by side on the same
// input (use_parallel_residual) or one after the other, nn.Linear weights [out, in],
// query_key_value rows interleaved per head (each head's q, k, v in turn).

#include "bridge/model/arch/gpt_neox.h"

#include "bridge/model/layers.h"
#include "bridge/model/rotary.h"

#include <cmath>

namespace hookscope {
namespace {

using layers::NormWeights;

// The products' weights are nn.Linear ones, [out, in], in column blocks where their rows
// are long (Model::take_linear; layers::linear takes both).
struct NeoxBlock {
    NormWeights ln1, ln2;
    at::Tensor qkv_w, qkv_b;     // [3D, D], [3D]: per head q, k, v rows
    at::Tensor dense_w, dense_b; // [D, D], [D]
    at::Tensor fc_w, fc_b;       // [M, D], [M]
    at::Tensor proj_w, proj_b;   // [D, M], [D]
};

class GptNeox final : public Model {
public:
    GptNeox(ModelConfig config, std::filesystem::path origin, const WeightSource& weights, StageRange range)
        : Model(std::move(config), std::move(origin), weights.fingerprint(), range) {
        const ModelConfig& c = this->config();
        const int64_t d = c.d_model, m = c.d_mlp;
        const auto w = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_weight(weights, "gpt_neox." + name, shape);
        };
        const auto linear = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_linear(weights, "gpt_neox." + name, shape);
        };
        const auto bias = [&](const std::string& name, int64_t size) {
            return c.attention_bias ? w(name, {size}) : at::Tensor();
        };
        if (holds_embedding()) embed_in_ = w("embed_in.weight", {c.d_vocab, d});
        inv_freq_ = rotary::inverse_frequencies(c);
        for (int i = stage().first; i < stage().end; ++i) {
            const std::string l = "layers." + std::to_string(i) + ".";
            blocks_.push_back({
                .ln1 = {w(l + "input_layernorm.weight", {d}), w(l + "input_layernorm.bias", {d})},
                .ln2 = {w(l + "post_attention_layernorm.weight", {d}), w(l + "post_attention_layernorm.bias", {d})},
                .qkv_w = linear(l + "attention.query_key_value.weight", {3 * d, d}),
                .qkv_b = bias(l + "attention.query_key_value.bias", 3 * d),
                .dense_w = linear(l + "attention.dense.weight", {d, d}),
                .dense_b = bias(l + "attention.dense.bias", d),
                .fc_w = linear(l + "mlp.dense_h_to_4h.weight", {m, d}),
                .fc_b = w(l + "mlp.dense_h_to_4h.bias", {m}),
                .proj_w = linear(l + "mlp.dense_4h_to_h.weight", {d, m}),
                .proj_b = w(l + "mlp.dense_4h_to_h.bias", {d}),
            });
        }
        if (!holds_readout()) return;
        ln_f_ = {w("final_layer_norm.weight", {d}), w("final_layer_norm.bias", {d})};
        if (!c.tie_word_embeddings) {
            unembed_ = take_weight(weights, "embed_out.weight", {c.d_vocab, d});
        } else {
            unembed_ = holds_embedding() ? embed_in_ : w("embed_in.weight", {c.d_vocab, d});
        }
    }

protected:
    ReadoutWeights gather_readout_weights() const override {
        const ModelConfig& c = config();
        ReadoutWeights r{false, ln_f_.weight, ln_f_.bias, unembed_, {}, {}};
        for (const NeoxBlock& b : blocks_) // dense: [D, H*Dh], nn.Linear
            r.layers.push_back({layers::from_column_blocks(b.dense_w).t().reshape({c.n_heads, c.d_head, c.d_model}),
                                b.dense_b, b.proj_b});
        return r;
    }

    at::Tensor embed(const at::Tensor& tokens, int64_t /*start*/, HookRecorder& hooks) const override {
        return hooks.fire(HookPoint::global(Site::Embed), layers::embedding(embed_in_, tokens)); // [B,P,D]
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
            layers::layer_norm(resid, ln_f_, config().norm_eps, hooks, HookPoint::global(Site::LnFinalScale),
                               HookPoint::global(Site::LnFinalNormalized));
        return layers::unembed(final, unembed_, hooks);
    }

private:
    at::Tensor block(const at::Tensor& resid, int i, HookRecorder& hooks, KvCache* past, int64_t start,
                     const rotary::Angles& angles) const {
        const ModelConfig& c = config();
        const NeoxBlock& b = blocks_[static_cast<std::size_t>(i - stage().first)];
        const auto hook = [i](Site site) { return HookPoint::block(site, i); };
        const at::Tensor resid_pre = hooks.fire(hook(Site::ResidPre), resid);

        // Attention.
        const at::Tensor x1 =
            layers::layer_norm(resid_pre, b.ln1, c.norm_eps, hooks, hook(Site::Ln1Scale), hook(Site::Ln1Normalized));
        const at::Tensor qkv =
            layers::linear(x1, b.qkv_w, b.qkv_b).view({x1.size(0), x1.size(1), c.n_heads, 3 * c.d_head});
        const auto split = qkv.split(c.d_head, -1); // per head: q, k, v
        const at::Tensor q = hooks.fire(hook(Site::AttnQ), split[0]);
        const at::Tensor k = hooks.fire(hook(Site::AttnK), split[1]);
        const at::Tensor v = hooks.fire(hook(Site::AttnV), split[2]);
        const at::Tensor rot_q = hooks.fire(hook(Site::AttnRotQ), rotary::apply(q, angles));
        const at::Tensor rot_k = hooks.fire(hook(Site::AttnRotK), rotary::apply(k, angles));
        const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_head));
        const at::Tensor z = layers::attention(rot_q, rot_k, v, scale, i, hooks, past, start);
        const at::Tensor attn_out = hooks.fire(
            hook(Site::AttnOut), layers::linear(z.reshape({x1.size(0), x1.size(1), c.d_model}), b.dense_w, b.dense_b));

        // MLP: beside the attention (parallel) or after it.
        const at::Tensor mlp_in =
            c.parallel_blocks ? resid_pre : hooks.fire(hook(Site::ResidMid), layers::add(resid_pre, attn_out));
        const at::Tensor x2 =
            layers::layer_norm(mlp_in, b.ln2, c.norm_eps, hooks, hook(Site::Ln2Scale), hook(Site::Ln2Normalized));
        const at::Tensor pre = hooks.fire(hook(Site::MlpPre), layers::linear(x2, b.fc_w, b.fc_b));
        const at::Tensor post = hooks.fire(hook(Site::MlpPost), layers::activation(pre, c.activation));
        const at::Tensor mlp_out = hooks.fire(hook(Site::MlpOut), layers::linear(post, b.proj_w, b.proj_b));
        return hooks.fire(hook(Site::ResidPost), c.parallel_blocks
                                                     ? layers::add(layers::add(mlp_out, attn_out), resid_pre)
                                                     : layers::add(mlp_in, mlp_out));
    }

    at::Tensor embed_in_, unembed_, inv_freq_;
    std::vector<NeoxBlock> blocks_;
    NormWeights ln_f_;
};

} // namespace

std::unique_ptr<Model> make_gpt_neox(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                     StageRange stage) {
    return std::make_unique<GptNeox>(std::move(config), std::move(origin), weights, stage);
}

std::unique_ptr<Model> make_gpt_neox(ModelConfig config, const WeightSource& weights, std::filesystem::path origin) {
    const StageRange all{0, static_cast<int>(config.n_layers)};
    return make_gpt_neox(std::move(config), weights, std::move(origin), all);
}

} // namespace hookscope
