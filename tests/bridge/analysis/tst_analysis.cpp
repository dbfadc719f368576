// The logit lens and direct logit attribution, against computations made here from
// the cached activations and the checkpoint's own weights.

#include "bridge/analysis/analysis.h"
#include "bridge/core/errors.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/edited_checkpoint.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"
#include "support/token_ids.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

namespace tst_analysis {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

std::vector<int64_t> golden_tokens(const std::string& model) {
    return test::ids_of(SafetensorsFile::open(kGolden / model / "golden.safetensors")->tensor("input_ids"));
}

ActivationCache capture(const Model& model, const std::vector<int64_t>& tokens, const std::vector<std::string>& hooks) {
    return model.run_with_cache(tokens, NamesFilter(exact_names_filter(hooks)));
}

// A lens layer's top ids and probabilities as [P, K] tensors.
at::Tensor ids_tensor(const LensLayer& layer) {
    return at::tensor(layer.top_ids).view({layer.positions, layer.top_k});
}
at::Tensor probs_tensor(const LensLayer& layer) {
    return at::tensor(layer.top_probs).view({layer.positions, layer.top_k});
}

} // namespace

class TestAnalysis : public QObject {
    Q_OBJECT

private slots:
    void lensHooksInOrder() {
        const auto model = Model::load(kGolden / "gpt2-tiny");
        QCOMPARE(lens_hooks(model->config()),
                 (std::vector<std::string>{"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                           "blocks.1.hook_resid_post"}));
        QCOMPARE(next_tokens({5, 6, 7}), (std::vector<int64_t>{6, 7, -1}));
    }

    // The last layer of the lens is the model's own output, for a short top-k list and
    // for one long enough to be sorted instead.
    void lensOnTheFinalLayerIsTheModelsTopK_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("gpt2") << "gpt2-tiny";
        QTest::newRow("pythia") << "pythia-tiny";
        QTest::newRow("llama") << "llama-tiny";
    }
    void lensOnTheFinalLayerIsTheModelsTopK() {
        QFETCH(QString, model);
        const auto m = Model::load(kGolden / model.toStdString());
        const std::vector<int64_t> tokens = golden_tokens(model.toStdString());
        const ActivationCache cache = capture(*m, tokens, lens_hooks(m->config()));
        for (const int64_t k : {5, 100}) {
            const std::vector<LensLayer> lens = logit_lens(*m, cache, k);
            QCOMPARE(lens.size(), static_cast<std::size_t>(m->config().n_layers + 1));
            const at::Tensor probs = at::softmax(cache.logits()[0], -1);
            const auto [top_probs, top_ids] = probs.topk(k, -1);
            QVERIFY(at::equal(ids_tensor(lens.back()), top_ids));
            HS_COMPARE_TENSORS(probs_tensor(lens.back()), top_probs, "final-layer lens probabilities");
        }
    }

    // Every layer of the lens, computed here from the cached residual stream and the
    // checkpoint's ln_f and wte: LayerNorm by its definition, the tied unembedding.
    void lensMatchesADirectComputationAtEveryLayer() {
        const fs::path folder = kGolden / "gpt2-tiny";
        const auto m = Model::load(folder);
        const auto weights = SafetensorsFile::open(folder / "model.safetensors");
        const at::Tensor w = weights->tensor("transformer.ln_f.weight").to(at::kDouble);
        const at::Tensor b = weights->tensor("transformer.ln_f.bias").to(at::kDouble);
        const at::Tensor wte = weights->tensor("transformer.wte.weight").to(at::kDouble);
        const std::vector<int64_t> tokens = golden_tokens("gpt2-tiny");
        const ActivationCache cache = capture(*m, tokens, lens_hooks(m->config()));
        const std::vector<int64_t> targets = next_tokens(tokens);
        const std::vector<LensLayer> lens = logit_lens(*m, cache, 3, targets);
        for (const LensLayer& layer : lens) {
            const at::Tensor x = cache[layer.hook][0].to(at::kDouble);
            const at::Tensor centred = x - x.mean(-1, true);
            const at::Tensor normed = centred / at::sqrt(centred.pow(2).mean(-1, true) + 1e-5) * w + b;
            const at::Tensor probs = at::softmax(at::matmul(normed, wte.t()), -1);
            HS_COMPARE_TENSORS(probs_tensor(layer), probs.gather(1, ids_tensor(layer)),
                               layer.hook + " top-3 probabilities");
            QVERIFY(at::equal(ids_tensor(layer).select(1, 0), probs.argmax(-1)));
            for (std::size_t p = 0; p < tokens.size(); ++p) {
                const auto pos = static_cast<int64_t>(p);
                if (targets[p] < 0) {
                    QVERIFY(std::isnan(layer.target_probs[p]));
                    QCOMPARE(layer.target_ranks[p], int64_t{-1});
                    continue;
                }
                const at::Tensor row = probs[pos];
                QVERIFY(std::abs(layer.target_probs[p] - row[targets[p]].item<double>()) < 1e-5);
                QCOMPARE(layer.target_ranks[p], (row > row[targets[p]]).sum().item<int64_t>());
            }
        }
    }

    void lensRefusesWhatItCannotRead() {
        const auto m = Model::load(kGolden / "gpt2-tiny");
        const ActivationCache partial = capture(*m, {1, 2, 3}, {"blocks.0.hook_resid_pre"});
        QVERIFY_THROWS_EXCEPTION(NotCapturedError, logit_lens(*m, partial, 5));
        const ActivationCache cache = capture(*m, {1, 2, 3}, lens_hooks(m->config()));
        QVERIFY_THROWS_EXCEPTION(InputError, logit_lens(*m, cache, 0));
        QVERIFY_THROWS_EXCEPTION(InputError, logit_lens(*m, cache, 513));
        QVERIFY_THROWS_EXCEPTION(InputError, logit_lens(*m, cache, 5, {1, 2}));      // one per position
        QVERIFY_THROWS_EXCEPTION(InputError, logit_lens(*m, cache, 5, {1, 2, 512})); // outside the vocabulary
    }

    // The parts sum to the model's logit on every architecture, at every position.
    void attributionSumsToTheLogit_data() { lensOnTheFinalLayerIsTheModelsTopK_data(); }
    void attributionSumsToTheLogit() {
        QFETCH(QString, model);
        const auto m = Model::load(kGolden / model.toStdString());
        const std::vector<int64_t> tokens = golden_tokens(model.toStdString());
        const ActivationCache cache = capture(*m, tokens, attribution_hooks(m->config()));
        const ModelConfig& c = m->config();
        double worst = 0;
        for (int64_t p = 0; p < static_cast<int64_t>(tokens.size()); ++p) {
            const int64_t target = (p * 37 + 11) % c.d_vocab, contrast = (p * 53 + 5) % c.d_vocab;
            const Attribution a = attribute(*m, cache, p, target);
            QCOMPARE(a.logit, static_cast<double>(cache.logits()[0][p][target].item<float>()));
            QCOMPARE(a.heads.size(), static_cast<std::size_t>(c.n_layers));
            QCOMPARE(a.heads.front().size(), static_cast<std::size_t>(c.n_heads));
            QCOMPARE(a.mlp.size(), static_cast<std::size_t>(c.n_layers));
            QCOMPARE(a.pos_embed.has_value(), c.has_pos_embed);
            worst = std::max(worst, std::abs(a.sum - a.logit) / std::max(1.0, std::abs(a.logit)));

            // Against a contrast token: each part is the difference of the two tokens' parts.
            const Attribution b = attribute(*m, cache, p, contrast);
            const Attribution d = attribute(*m, cache, p, target, contrast);
            QVERIFY(std::abs(d.logit - (a.logit - b.logit)) < 1e-5);
            QVERIFY(std::abs(d.mlp.back() - (a.mlp.back() - b.mlp.back())) < 1e-9);
            QVERIFY(std::abs(d.heads[0][0] - (a.heads[0][0] - b.heads[0][0])) < 1e-9);
            QVERIFY(std::abs(d.constant - (a.constant - b.constant)) < 1e-9);
            worst = std::max(worst, std::abs(d.sum - d.logit) / std::max(1.0, std::abs(d.logit)));
        }
        qInfo("largest |sum - logit| / max(1, |logit|): %.3g", worst);
        QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
    }

    // GPT-2 with head 2 of layer 1 silenced in its output projection: that head adds
    // nothing, and the parts still sum to the (changed) logit.
    void aHeadZeroedByHandContributesNothing() {
        QTemporaryDir dir;
        const int64_t d_head = 16, head = 2;
        const fs::path folder = test::edited_checkpoint(
            kGolden / "gpt2-tiny", fs::path(dir.path().toStdString()) / "silenced", [&](NamedTensors& tensors) {
                for (auto& [name, tensor] : tensors) {
                    if (name != "transformer.h.1.attn.c_proj.weight") continue;
                    tensor = tensor.clone(); // Conv1D [in = heads x d_head, out]: the head's rows
                    tensor.slice(0, head * d_head, (head + 1) * d_head).zero_();
                }
            });
        const auto m = Model::load(folder);
        const ActivationCache cache = capture(*m, golden_tokens("gpt2-tiny"), attribution_hooks(m->config()));
        const Attribution a = attribute(*m, cache, 7, 42);
        QCOMPARE(a.heads[1][head], 0.0);
        QVERIFY(a.heads[1][head - 1] != 0.0 && a.heads[0][head] != 0.0);
        QVERIFY(std::abs(a.sum - a.logit) < 1e-5 * std::max(1.0, std::abs(a.logit)));
    }

    void attributionRefusesWhatItCannotRead() {
        const auto m = Model::load(kGolden / "gpt2-tiny");
        const ActivationCache partial = capture(*m, {1, 2, 3}, {"hook_embed"});
        QVERIFY_THROWS_EXCEPTION(NotCapturedError, attribute(*m, partial, 0, 1));
        const ActivationCache cache = capture(*m, {1, 2, 3}, attribution_hooks(m->config()));
        QVERIFY_THROWS_EXCEPTION(InputError, attribute(*m, cache, 3, 1));
        QVERIFY_THROWS_EXCEPTION(InputError, attribute(*m, cache, -1, 1));
        QVERIFY_THROWS_EXCEPTION(InputError, attribute(*m, cache, 0, 512));
        QVERIFY_THROWS_EXCEPTION(InputError, attribute(*m, cache, 0, 1, 512));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestAnalysis)

} // namespace tst_analysis
#include "tst_analysis.moc"
