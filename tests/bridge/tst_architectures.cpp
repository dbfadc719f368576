// Architectures beyond GPT-2 against Hugging Face's own activations
// (tests/fixtures/golden), plus invariants of their hook points.

#include "bridge/errors.h"
#include "bridge/generate.h"
#include "bridge/kv_cache.h"
#include "bridge/model.h"
#include "bridge/safetensors.h"
#include "support/tensor_compare.h"

#include <QtTest>

#include <filesystem>

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

std::vector<int64_t> ids_of(const at::Tensor& t) {
    const at::Tensor flat = t.flatten().to(at::kLong).contiguous();
    return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

} // namespace

class TestArchitectures : public QObject {
    Q_OBJECT

private slots:
    void matchesHuggingFace_data() {
        QTest::addColumn<QString>("folder");
        QTest::newRow("pythia-tiny") << QString("pythia-tiny");
        QTest::newRow("llama-tiny") << QString("llama-tiny");
    }

    void matchesHuggingFace() {
        QFETCH(QString, folder);
        const fs::path dir = kGolden / folder.toStdString();
        const auto model = Model::load(dir);
        const auto golden = SafetensorsFile::open(dir / "golden.safetensors");
        const std::vector<int64_t> tokens = ids_of(golden->tensor("input_ids"));
        const ActivationCache cache = model->run_with_cache(tokens);
        const int layers = static_cast<int>(model->config().n_layers);
        HS_COMPARE_TENSORS(cache.logits(), golden->tensor("logits"), "logits");
        HS_COMPARE_TENSORS(cache["unembed.hook_in"], golden->tensor("hidden_states." + std::to_string(layers)),
                           "unembed.hook_in");
        HS_COMPARE_TENSORS(cache["blocks." + std::to_string(layers - 1) + ".hook_resid_post"],
                           golden->tensor("final_norm_input"), "last hook_resid_post");
        for (int i = 0; i < layers; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".", n = std::to_string(i);
            HS_COMPARE_TENSORS(cache[b + "hook_resid_pre"], golden->tensor("hidden_states." + n), b + "hook_resid_pre");
            HS_COMPARE_TENSORS(cache[b + "attn.hook_pattern"], golden->tensor("attentions." + n),
                               b + "attn.hook_pattern");
            HS_COMPARE_TENSORS(cache[b + "hook_attn_out"], golden->tensor("attn_out." + n), b + "hook_attn_out");
            HS_COMPARE_TENSORS(cache[b + "hook_mlp_out"], golden->tensor("mlp_out." + n), b + "hook_mlp_out");
        }
        // Every hook point of the table, in order, with its shape.
        QCOMPARE(cache.size(), model->hook_points().size());
        for (std::size_t k = 0; k < cache.size(); ++k) {
            QCOMPARE(cache.entries()[k].first, model->hook_points()[k].name);
            QCOMPARE(cache.entries()[k].second.sizes().vec(),
                     concrete_shape(model->hook_points()[k], static_cast<int64_t>(tokens.size())));
        }
        // Greedy generation reproduces Hugging Face's, cached and uncached.
        for (const bool cached : {true, false}) {
            GenerateOptions o;
            o.max_new_tokens = 10;
            o.sampling.do_sample = false;
            o.use_kv_cache = cached;
            QCOMPARE(generate(*model, tokens, o).tokens, ids_of(golden->tensor("greedy_tokens")));
        }
    }

    void pythiaHookInvariants() {
        const auto model = Model::load(kGolden / "pythia-tiny");
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128, 255, 300};
        const ActivationCache cache = model->run_with_cache(tokens);
        QVERIFY(!cache.contains("blocks.0.hook_resid_mid")); // parallel blocks
        QVERIFY(!cache.contains("hook_pos_embed"));          // rotary, no learned positions
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            HS_COMPARE_TENSORS(cache[b + "hook_resid_post"],
                               cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"] + cache[b + "hook_mlp_out"],
                               b + "resid_post = pre + attn_out + mlp_out");
            // Rotary touches only the first rotary_dims = 4 of 16 dims, and not position 0.
            const at::Tensor q = cache[b + "attn.hook_q"], rot_q = cache[b + "attn.hook_rot_q"];
            QVERIFY(at::equal(q.slice(-1, 4), rot_q.slice(-1, 4)));
            HS_COMPARE_TENSORS(rot_q.select(1, 0), q.select(1, 0), "position 0 is not rotated");
            QVERIFY((rot_q.slice(-1, 0, 4) - q.slice(-1, 0, 4)).abs().max().item<double>() > 1e-3);
            // Scores are rotated queries against rotated keys.
            const at::Tensor qh = rot_q[0].select(1, 1), kh = cache[b + "attn.hook_rot_k"][0].select(1, 1);
            const at::Tensor scores = cache[b + "attn.hook_attn_scores"][0][1];
            const at::Tensor keep = at::ones({7, 7}, at::kBool).tril();
            HS_COMPARE_TENSORS(scores.masked_select(keep), (at::matmul(qh, kh.t()) / 4.0).masked_select(keep),
                               b + "scores head 1");
        }
        // Decoding position by position with the KV cache matches the full forward.
        const auto past = model->new_kv_cache(static_cast<int64_t>(tokens.size()));
        for (std::size_t n = 1; n <= tokens.size(); ++n) {
            const at::Tensor step = model->decode({tokens[n - 1]}, *past);
            HS_COMPARE_TENSORS(step, cache.logits()[0][static_cast<int64_t>(n - 1)], "decode step");
        }
    }
};

QTEST_GUILESS_MAIN(TestArchitectures)
#include "tst_architectures.moc"
