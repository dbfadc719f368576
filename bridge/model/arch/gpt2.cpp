// GPT-2, as Hugging Face's GPT2LMHeadModel computes it: learned positions,
// pre-LayerNorm sequential blocks, Conv1D weights stored [in, out].

#include "bridge/model/arch/gpt2.h"

#include "bridge/model/layers.h"

#include <cmath>

namespace hookscope {
namespace {

using layers::NormWeights;

struct Gpt2Block {
    NormWeights ln1, ln2;
    at::Tensor c_attn_w, c_attn_b; // [D, 3D], [3D]: q, k, v side by side
    at::Tensor c_proj_w, c_proj_b; // [D, D], [D]
    at::Tensor fc_w, fc_b;         // [D, M], [M]
    at::Tensor proj_w, proj_b;     // [M, D], [D]
    // (In float32 and bfloat16 the four matrices are held in the panel layout,
    // layers::in_panels.)
};

class Gpt2 final : public Model {
public:
    Gpt2(ModelConfig config, std::filesystem::path origin, const WeightSource& weights, StageRange range)
        : Model(std::move(config), std::move(origin), weights.fingerprint(), range) {
        const ModelConfig& c = this->config();
        const int64_t d = c.d_model, m = c.d_mlp;
        // save_pretrained writes `transformer.`; the original hub upload has no prefix.
        const std::string p = weights.contains("transformer.wte.weight") ? "transformer." : "";
        const auto w = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_weight(weights, p + name, shape);
        };
        // A block matrix whose columns fill whole panels is repacked below: taken as
        // Repacked, it is not first copied onto huge pages.
        const auto fills_panels = [](int64_t columns) { return columns % kernels::kPanelColumns == 0; };
        const auto block_matrix = [&](const std::string& name, std::vector<int64_t> shape) {
            return take_weight(weights, p + name, shape,
                               fills_panels(shape[1]) ? WeightUse::Repacked : WeightUse::Held);
        };
        if (holds_embedding()) {
            wte_ = w("wte.weight", {c.d_vocab, d});
            wpe_ = w("wpe.weight", {c.n_ctx, d});
        }
        for (int i = stage().first; i < stage().end; ++i) {
            const std::string h = "h." + std::to_string(i) + ".";
            blocks_.push_back({
                .ln1 = {w(h + "ln_1.weight", {d}), w(h + "ln_1.bias", {d})},
                .ln2 = {w(h + "ln_2.weight", {d}), w(h + "ln_2.bias", {d})},
                .c_attn_w = block_matrix(h + "attn.c_attn.weight", {d, 3 * d}),
                .c_attn_b = w(h + "attn.c_attn.bias", {3 * d}),
                .c_proj_w = block_matrix(h + "attn.c_proj.weight", {d, d}),
                .c_proj_b = w(h + "attn.c_proj.bias", {d}),
                .fc_w = block_matrix(h + "mlp.c_fc.weight", {d, m}),
                .fc_b = w(h + "mlp.c_fc.bias", {m}),
                .proj_w = block_matrix(h + "mlp.c_proj.weight", {m, d}),
                .proj_b = w(h + "mlp.c_proj.bias", {d}),
            });
        }
        // Block weights go to the panel layout (layers::in_panels), whose one-position
        // products stream faster (GPT-2 decodes 10-15% faster in bfloat16, 4% in
        // float32) and spread over the threads without partial sums; the stored data is
        // released. Weights that need gradients (the trainer's, which it updates in
        // place) stay as they are.
        for (std::size_t k = 0; k < blocks_.size(); ++k) {
            Gpt2Block& b = blocks_[k];
            const std::string h = p + "h." + std::to_string(stage().first + static_cast<int>(k)) + ".";
            for (auto [weight, name] :
                 {std::pair{&b.c_attn_w, "attn.c_attn.weight"}, std::pair{&b.c_proj_w, "attn.c_proj.weight"},
                  std::pair{&b.fc_w, "mlp.c_fc.weight"}, std::pair{&b.proj_w, "mlp.c_proj.weight"}}) {
                const bool packable = weight->scalar_type() == at::kBFloat16 || weight->scalar_type() == at::kFloat;
                if (!packable || weight->requires_grad() || !fills_panels(weight->size(1))) continue;
                *weight = layers::to_panels(*weight);
                weights.release(h + name);
            }
        }
        // The float32 token embedding, which is also the unembedding every decoded token
        // reads whole, is copied onto huge pages (a checkpoint's is a view of the file
        // mapping, on small pages): GPT-2 small then decoded 3-10% faster on Zen 3.
        // (Other float32 weights in their own type stay in place, see checked_weight:
        // most are repacked above, and copying every weight of a large model costs more
        // load time than it gains. bfloat16 ones of 2 MiB or more are on huge pages
        // already.)
        if (holds_embedding() && wte_.scalar_type() == at::kFloat && !wte_.requires_grad()) {
            wte_ = copied_weight(wte_, weights, p + "wte.weight");
        }
        if (!holds_readout()) return;
        ln_f_ = {w("ln_f.weight", {d}), w("ln_f.bias", {d})};
        // Hugging Face ties lm_head to wte unless the config says otherwise.
        if (!c.tie_word_embeddings) {
            unembed_ = take_weight(weights, "lm_head.weight", {c.d_vocab, d});
        } else {
            unembed_ = holds_embedding() ? wte_ : w("wte.weight", {c.d_vocab, d});
        }
    }

protected:
    ReadoutWeights gather_readout_weights() const override {
        const ModelConfig& c = config();
        ReadoutWeights r{false, ln_f_.weight, ln_f_.bias, unembed_, {}, {}};
        for (const Gpt2Block& b : blocks_)
            r.layers.push_back({(layers::in_panels(b.c_proj_w) ? layers::from_panels(b.c_proj_w) : b.c_proj_w)
                                    .view({c.n_heads, c.d_head, c.d_model}),
                                b.c_proj_b, b.proj_b});
        return r;
    }

    at::Tensor embed(const at::Tensor& tokens, int64_t start, HookRecorder& hooks) const override {
        const int64_t positions = tokens.size(1);
        const at::Tensor embed = hooks.fire(HookPoint::global(Site::Embed), layers::embedding(wte_, tokens)); // [B,P,D]
        const at::Tensor rows = hooks.packed_lengths() ? wpe_.index_select(0, hooks.packed_positions())
                                                       : wpe_.slice(0, start, start + positions);
        const at::Tensor pos_embed = hooks.fire(HookPoint::global(Site::PosEmbed),
                                                rows.unsqueeze(0).to(layers::activation_type(wpe_))); // [1,P,D]
        return layers::add(embed, pos_embed);
    }

    at::Tensor run_blocks(const at::Tensor& input, int first, int end, int64_t start, HookRecorder& hooks,
                          KvCache* past) const override {
        at::Tensor resid = input;
        for (int i = first; i < end; ++i)
            resid = block(resid, i, hooks, past, start);
        return resid;
    }

    at::Tensor readout(const at::Tensor& resid, HookRecorder& hooks) const override {
        const at::Tensor final =
            layers::layer_norm(resid, ln_f_, config().norm_eps, hooks, HookPoint::global(Site::LnFinalScale),
                               HookPoint::global(Site::LnFinalNormalized));
        return layers::unembed(final, unembed_, hooks);
    }

private:
    at::Tensor block(const at::Tensor& resid, int i, HookRecorder& hooks, KvCache* past, int64_t start) const {
        const ModelConfig& c = config();
        const Gpt2Block& b = blocks_[static_cast<std::size_t>(i - stage().first)];
        const auto hook = [i](Site site) { return HookPoint::block(site, i); };
        const at::Tensor resid_pre = hooks.fire(hook(Site::ResidPre), resid);

        // Attention.
        const at::Tensor x1 =
            layers::layer_norm(resid_pre, b.ln1, c.norm_eps, hooks, hook(Site::Ln1Scale), hook(Site::Ln1Normalized));
        const auto qkv = layers::conv1d(x1, b.c_attn_w, b.c_attn_b).split(c.d_model, -1);
        const std::vector<int64_t> heads{x1.size(0), x1.size(1), c.n_heads, c.d_head};
        const at::Tensor q = hooks.fire(hook(Site::AttnQ), qkv[0].view(heads));
        const at::Tensor k = hooks.fire(hook(Site::AttnK), qkv[1].view(heads));
        const at::Tensor v = hooks.fire(hook(Site::AttnV), qkv[2].view(heads));
        const at::Tensor z = layers::attention(q, k, v, attention_scale(i), i, hooks, past, start);
        const at::Tensor attn_out =
            hooks.fire(hook(Site::AttnOut),
                       layers::conv1d(z.reshape({x1.size(0), x1.size(1), c.d_model}), b.c_proj_w, b.c_proj_b));
        const at::Tensor resid_mid = hooks.fire(hook(Site::ResidMid), layers::add(resid_pre, attn_out));

        // MLP.
        const at::Tensor x2 =
            layers::layer_norm(resid_mid, b.ln2, c.norm_eps, hooks, hook(Site::Ln2Scale), hook(Site::Ln2Normalized));
        const at::Tensor pre = hooks.fire(hook(Site::MlpPre), layers::conv1d(x2, b.fc_w, b.fc_b));
        const at::Tensor post = hooks.fire(hook(Site::MlpPost), layers::activation(pre, c.activation));
        const at::Tensor mlp_out = hooks.fire(hook(Site::MlpOut), layers::conv1d(post, b.proj_w, b.proj_b));
        return hooks.fire(hook(Site::ResidPost), layers::add(resid_mid, mlp_out));
    }

    double attention_scale(int layer) const {
        const ModelConfig& c = config();
        double scale = c.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(c.d_head)) : 1.0;
        if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(layer + 1);
        return scale;
    }

    at::Tensor wte_, wpe_, unembed_;
    std::vector<Gpt2Block> blocks_;
    NormWeights ln_f_;
};

} // namespace

std::unique_ptr<Model> make_gpt2(ModelConfig config, const WeightSource& weights, std::filesystem::path origin,
                                 StageRange stage) {
    return std::make_unique<Gpt2>(std::move(config), std::move(origin), weights, stage);
}

std::unique_ptr<Model> make_gpt2(ModelConfig config, const WeightSource& weights, std::filesystem::path origin) {
    const StageRange all{0, static_cast<int>(config.n_layers)};
    return make_gpt2(std::move(config), weights, std::move(origin), all);
}

} // namespace hookscope
