// GPT-2 forward against Hugging Face's own activations (tests/fixtures/golden).

#include "bridge/core/errors.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/kernel_level.h"
#include "support/tensor_compare.h"
#include "support/token_ids.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

namespace tst_gpt2 {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

} // namespace

class TestGpt2 : public QObject {
    Q_OBJECT

    std::unique_ptr<Model> model_;
    std::shared_ptr<const SafetensorsFile> golden_;
    std::vector<int64_t> tokens_;
    ActivationCache cache_;

private slots:
    void initTestCase() {
        model_ = Model::load(kGpt2);
        golden_ = SafetensorsFile::open(kGpt2 / "golden.safetensors");
        tokens_ = test::ids_of(golden_->tensor("input_ids"));
        cache_ = model_->run_with_cache(tokens_);
    }

    void configIsRead() {
        const ModelConfig& c = model_->config();
        QCOMPARE(c.n_layers, 2);
        QCOMPARE(c.n_heads, 4);
        QCOMPARE(c.d_model, 64);
        QCOMPARE(c.d_head, 16);
        QCOMPARE(c.d_mlp, 256); // "n_inner": null means 4 * n_embd
        QCOMPARE(c.d_vocab, 512);
        QCOMPARE(c.n_ctx, 128);
        // wte 512x64, wpe 128x64, 2 blocks, ln_f; lm_head tied.
        const int64_t block = 2 * 64 * 2 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64);
        QCOMPARE(model_->parameter_count(), 512 * 64 + 128 * 64 + 2 * block + 2 * 64);
    }

    void runWithCacheMatchesHuggingFace() {
        const SafetensorsFile& g = *golden_;
        HS_COMPARE_TENSORS(cache_.logits(), g.tensor("logits"), "logits");
        HS_COMPARE_TENSORS(cache_["unembed.hook_out"], g.tensor("logits"), "unembed.hook_out");
        HS_COMPARE_TENSORS(cache_["unembed.hook_in"], g.tensor("hidden_states.2"), "unembed.hook_in");
        HS_COMPARE_TENSORS(cache_["blocks.1.hook_resid_post"], g.tensor("final_norm_input"),
                           "blocks.1.hook_resid_post");
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            const std::string n = std::to_string(i);
            HS_COMPARE_TENSORS(cache_[b + "hook_resid_pre"], g.tensor("hidden_states." + n), b + "hook_resid_pre");
            HS_COMPARE_TENSORS(cache_[b + "attn.hook_pattern"], g.tensor("attentions." + n), b + "attn.hook_pattern");
            HS_COMPARE_TENSORS(cache_[b + "hook_attn_out"], g.tensor("attn_out." + n), b + "hook_attn_out");
            HS_COMPARE_TENSORS(cache_[b + "hook_mlp_out"], g.tensor("mlp_out." + n), b + "hook_mlp_out");
        }
    }

    void plainForwardEqualsCachedLogits() {
        const at::Tensor logits = model_->forward(tokens_);
        QVERIFY(at::equal(logits, cache_.logits()));
    }

    void cacheFollowsHookTableOrderAndShapes() {
        const auto& points = model_->hook_points();
        QCOMPARE(cache_.size(), points.size());
        const auto positions = static_cast<int64_t>(tokens_.size());
        for (std::size_t i = 0; i < points.size(); ++i) {
            QCOMPARE(cache_.entries()[i].first, points[i].name);
            QCOMPARE(cache_.entries()[i].second.sizes().vec(), concrete_shape(points[i], positions));
        }
        QCOMPARE(points.size(), std::size_t(2 + 2 * 17 + 4)); // GPT-2: 17 hook points per block
        int64_t bytes = 0;
        for (const auto& [name, t] : cache_.entries())
            bytes += t.numel() * 4;
        QCOMPARE(cache_.total_bytes(), bytes);
    }

    void residualStreamInvariants() {
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            HS_COMPARE_TENSORS(cache_[b + "hook_resid_mid"], cache_[b + "hook_resid_pre"] + cache_[b + "hook_attn_out"],
                               b + "resid_mid = pre + attn_out");
            HS_COMPARE_TENSORS(cache_[b + "hook_resid_post"], cache_[b + "hook_resid_mid"] + cache_[b + "hook_mlp_out"],
                               b + "resid_post = mid + mlp_out");
        }
        HS_COMPARE_TENSORS(cache_["blocks.0.hook_resid_pre"], cache_["hook_embed"] + cache_["hook_pos_embed"],
                           "resid_pre 0 = embed + pos_embed");
        HS_COMPARE_TENSORS(cache_["blocks.1.hook_resid_pre"], cache_["blocks.0.hook_resid_post"],
                           "resid_pre 1 = resid_post 0");
    }

    void attentionPatternIsCausalAndNormalized() {
        for (int i = 0; i < 2; ++i) {
            const at::Tensor pattern = cache_["blocks." + std::to_string(i) + ".attn.hook_pattern"];
            const at::Tensor scores = cache_["blocks." + std::to_string(i) + ".attn.hook_attn_scores"];
            HS_COMPARE_TENSORS(pattern.sum(-1), at::ones({1, 4, 12}), "pattern rows sum to 1");
            const at::Tensor future = at::ones({12, 12}, at::kBool).triu(1);
            QCOMPARE(pattern.masked_select(future).abs().max().item<float>(), 0.0f);
            QVERIFY(scores.masked_select(future).isneginf().all().item<bool>());
            QVERIFY(scores.masked_select(future.logical_not()).isfinite().all().item<bool>());
            HS_COMPARE_TENSORS(at::softmax(scores, -1), pattern, "pattern = softmax(scores)");
        }
    }

    void attentionScoresAreScaledDotProducts() {
        // scores[h, q, k] = q_h[q] . k_h[k] / sqrt(d_head), checked for one head.
        const at::Tensor q = cache_["blocks.0.attn.hook_q"][0].select(1, 2); // [P, Dh]
        const at::Tensor k = cache_["blocks.0.attn.hook_k"][0].select(1, 2);
        const at::Tensor expected = at::matmul(q, k.t()) / 4.0;
        const at::Tensor scores = cache_["blocks.0.attn.hook_attn_scores"][0][2];
        const at::Tensor keep = at::ones({12, 12}, at::kBool).tril();
        HS_COMPARE_TENSORS(scores.masked_select(keep), expected.masked_select(keep), "scores head 2");
        // z = pattern . v
        const at::Tensor z =
            at::matmul(cache_["blocks.0.attn.hook_pattern"][0][2], cache_["blocks.0.attn.hook_v"][0].select(1, 2));
        HS_COMPARE_TENSORS(cache_["blocks.0.attn.hook_z"][0].select(1, 2), z, "z head 2");
    }

    // TransformerLens' LayerNorm: hook_scale = sqrt(var + eps) of the centred input, and
    // hook_normalized = the norm's output (x - mean) / scale * w + b.
    void layerNormHooksReproduceTheNorm() {
        const auto ckpt = SafetensorsFile::open(kGpt2 / "model.safetensors");
        for (const auto& [hook, weights] :
             std::vector<std::pair<std::string, std::string>>{{"blocks.0.ln1", "transformer.h.0.ln_1"},
                                                              {"blocks.1.ln2", "transformer.h.1.ln_2"},
                                                              {"ln_final", "transformer.ln_f"}}) {
            const at::Tensor normalized = cache_[hook + ".hook_normalized"];
            const at::Tensor scale = cache_[hook + ".hook_scale"];
            const std::string input = hook == "ln_final"       ? "blocks.1.hook_resid_post"
                                      : hook == "blocks.0.ln1" ? "blocks.0.hook_resid_pre"
                                                               : "blocks.1.hook_resid_mid";
            const at::Tensor x = cache_[input];
            const at::Tensor w = ckpt->tensor(weights + ".weight"), b = ckpt->tensor(weights + ".bias");
            const at::Tensor centred = x - x.mean(-1, true);
            HS_COMPARE_TENSORS(scale, (centred.pow(2).mean(-1, true) + 1e-5).sqrt(), hook + " scale = sqrt(var + eps)");
            HS_COMPARE_TENSORS(normalized, centred / scale * w + b, hook + " normalized = (x - mean) / scale * w + b");
            HS_COMPARE_TENSORS(normalized, at::layer_norm(x, {64}, w, b, 1e-5), hook + " normalized = LayerNorm(x)");
        }
        HS_COMPARE_TENSORS(cache_["unembed.hook_in"], cache_["ln_final.hook_normalized"],
                           "unembed.hook_in = ln_final output");
    }

    void mlpHooksChain() {
        const at::Tensor pre = cache_["blocks.1.mlp.hook_pre"];
        const at::Tensor expected = 0.5 * pre * (1 + at::tanh(std::sqrt(2.0 / M_PI) * (pre + 0.044715 * pre.pow(3))));
        HS_COMPARE_TENSORS(cache_["blocks.1.mlp.hook_post"], expected, "mlp.hook_post = gelu_new(pre)");
    }

    void filterSelectsOnlyMatchingHooks() {
        const ActivationCache patterns = model_->run_with_cache(tokens_, NamesFilter("blocks.*.attn.hook_pattern"));
        QCOMPARE(patterns.names(),
                 (std::vector<std::string>{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"}));
        QVERIFY(at::equal(patterns["blocks.1.attn.hook_pattern"], cache_["blocks.1.attn.hook_pattern"]));
        QVERIFY(at::equal(patterns.logits(), cache_.logits()));
        try {
            (void)patterns["blocks.0.hook_resid_pre"];
            QFAIL("expected NotCapturedError");
        } catch (const NotCapturedError& e) {
            QCOMPARE(std::string(e.what()),
                     "hook point `blocks.0.hook_resid_pre` not captured (names filter: `blocks.*.attn.hook_pattern`)");
        }
        const ActivationCache none = model_->run_with_cache(tokens_, NamesFilter("/^nothing$/"));
        QVERIFY(none.empty());
        QCOMPARE(none.total_bytes(), 0);
        QVERIFY(at::equal(none.logits(), cache_.logits()));
    }

    void prefixOfSequenceGivesSameActivations() {
        // Causality: the first 5 positions do not depend on later tokens.
        const std::vector<int64_t> prefix(tokens_.begin(), tokens_.begin() + 5);
        const ActivationCache short_cache = model_->run_with_cache(prefix, NamesFilter("blocks.1.hook_resid_post"));
        HS_COMPARE_TENSORS(short_cache["blocks.1.hook_resid_post"], cache_["blocks.1.hook_resid_post"].slice(1, 0, 5),
                           "prefix resid_post");
    }

    void hubKeyLayoutLoadsTheSameModel() {
        // openai-community/gpt2 has no `transformer.` prefix and stores attention-mask buffers.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const fs::path folder = dir.path().toStdString();
        fs::copy_file(kGpt2 / "config.json", folder / "config.json");
        const auto original = SafetensorsFile::open(kGpt2 / "model.safetensors");
        NamedTensors renamed;
        for (const TensorInfo& info : original->tensors()) {
            std::string name = info.name;
            if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
            renamed.emplace_back(name, original->tensor(info.name));
        }
        for (int i = 0; i < 2; ++i) {
            const std::string h = "h." + std::to_string(i) + ".attn.";
            renamed.emplace_back(h + "bias", at::ones({1, 1, 128, 128}).tril().to(at::kBool));
            renamed.emplace_back(h + "masked_bias", at::full({}, -1e4));
        }
        renamed.emplace_back("lm_head.weight", original->tensor("transformer.wte.weight"));
        write_safetensors(folder / "model.safetensors", renamed);

        const auto hub = Model::load(folder);
        HS_COMPARE_TENSORS(hub->forward(tokens_), golden_->tensor("logits"), "hub-layout logits");
    }

    void untiedUnembedUsesLmHead() {
        QTemporaryDir dir;
        const fs::path folder = dir.path().toStdString();
        std::ifstream in(kGpt2 / "config.json");
        std::string config((std::istreambuf_iterator<char>(in)), {});
        config.replace(config.rfind('}'), 1, ", \"tie_word_embeddings\": false}");
        std::ofstream(folder / "config.json") << config;
        const auto original = SafetensorsFile::open(kGpt2 / "model.safetensors");
        NamedTensors tensors;
        for (const TensorInfo& info : original->tensors())
            tensors.emplace_back(info.name, original->tensor(info.name));
        const at::Tensor lm_head = original->tensor("transformer.wte.weight") * 2;
        tensors.emplace_back("lm_head.weight", lm_head);
        write_safetensors(folder / "model.safetensors", tensors);

        const auto untied = Model::load(folder);
        const ActivationCache c = untied->run_with_cache(tokens_, NamesFilter("unembed.hook_in"));
        HS_COMPARE_TENSORS(c.logits(), at::matmul(c["unembed.hook_in"], lm_head.t()), "untied logits");
        HS_COMPARE_TENSORS(c.logits(), golden_->tensor("logits") * 2, "untied logits = 2 x tied");
    }

    void badTokensAreInputErrors() {
        QVERIFY_THROWS_EXCEPTION(InputError, model_->forward({}));
        try {
            model_->forward({1, 512});
            QFAIL("expected InputError");
        } catch (const InputError& e) {
            QCOMPARE(std::string(e.what()), "token id 512 at position 1 is outside the vocabulary (0 to 511)");
        }
        QVERIFY_THROWS_EXCEPTION(InputError, model_->forward({-1}));
        QVERIFY_THROWS_EXCEPTION(InputError, model_->forward(std::vector<int64_t>(129, 1)));
        QCOMPARE(model_->forward(std::vector<int64_t>(128, 1)).size(1), 128); // the full context is fine
    }
};

HOOKSCOPE_LEVEL_TEST_MAIN(TestGpt2)

} // namespace tst_gpt2
#include "tst_gpt2.moc"
