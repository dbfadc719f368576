// A model loaded as pipeline stages (blocks [first, end) each) and the stages run one
// after another, in one process: the same logits, hook points and KV-cached decoding
// as the whole model, on the golden fixtures and on a deeper random GPT-2.
//
// The tolerance is zero: a stage runs the same ops in the same order on the same
// tensors as the whole model (the forward is one function, cut between blocks), so
// the results are bit for bit equal; the largest difference is printed all the same.

#include "bridge/core/errors.h"
#include "bridge/model/hook_recorder.h"
#include "bridge/model/kv_cache.h"
#include "bridge/model/model.h"
#include "support/error_text.h"
#include "support/random_checkpoint.h"
#include "support/test_main.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <memory>
#include <vector>

namespace tst_stages {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

using Stages = std::vector<std::unique_ptr<Model>>;

Stages load_stages(const fs::path& folder, int count) {
    const int64_t n_layers = Model::load(folder)->config().n_layers;
    Stages stages;
    for (const StageRange& range : split_stages(n_layers, count))
        stages.push_back(Model::load(folder, Precision::Float32, range));
    return stages;
}

// The stages run one after another over `tokens` at positions start.., as a pipeline
// runs them, every hook point recorded into one cache; with `pasts` (one per stage),
// KV-cached, only the last position's logits and nothing recorded (as Model::decode:
// a recorded hook point may take another kernel).
ActivationCache chained(const Stages& stages, const std::vector<int64_t>& tokens, int64_t start = 0,
                        const std::vector<KvCache*>& pasts = {}) {
    c10::InferenceMode guard;
    ActivationCache cache(tokens, "");
    at::Tensor x = at::tensor(at::ArrayRef<int64_t>(tokens), at::kLong).unsqueeze(0);
    for (std::size_t k = 0; k < stages.size(); ++k) {
        const Model& stage = *stages[k];
        HookRecorder hooks = pasts.empty()
                                 ? HookRecorder(stage.hook_points(), static_cast<int>(stage.config().n_layers),
                                                NamesFilter(), cache, c10::kCPU)
                                 : HookRecorder();
        hooks.starting_at(start, static_cast<int64_t>(tokens.size()));
        KvCache* past = pasts.empty() ? nullptr : pasts[k];
        x = stage.forward_stage(x, start, hooks, past, past != nullptr);
    }
    cache.set_logits(x);
    return cache;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
    return a.numel() ? (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() : 0.0;
}

void require_equal(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
    QCOMPARE(actual.sizes().vec(), expected.sizes().vec());
    const double d = max_diff(actual, expected);
    qInfo("%-40s max |diff| = %.3g", what.c_str(), d);
    QVERIFY2(at::equal(actual, expected), what.c_str());
}

std::vector<int64_t> some_tokens(int64_t count, int64_t vocab) {
    std::vector<int64_t> ids;
    for (int64_t k = 0; k < count; ++k)
        ids.push_back((k * 37 + 11) % vocab);
    return ids;
}

} // namespace

class TestStages : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    // A GPT-2 of 5 blocks, random weights: deep enough for 2 to 5 stages.
    fs::path deep_gpt2() {
        const fs::path folder = fs::path(tmp_.path().toStdString()) / "deep-gpt2";
        if (fs::exists(folder / "model.safetensors")) return folder;
        return test::write_random_gpt2(folder, test::gpt2_shape(5, 2, 32, 32, 97), 11);
    }

private slots:
    void stagesAreContiguousAndAsEvenAsPossible() {
        for (int64_t layers = 1; layers <= 12; ++layers) {
            for (int count = 1; count <= layers; ++count) {
                const std::vector<StageRange> stages = split_stages(layers, count);
                QCOMPARE(static_cast<int>(stages.size()), count);
                QCOMPARE(stages.front().first, 0);
                QCOMPARE(static_cast<int64_t>(stages.back().end), layers);
                const int shortest = static_cast<int>(layers / count);
                for (std::size_t k = 0; k < stages.size(); ++k) {
                    if (k) QCOMPARE(stages[k].first, stages[k - 1].end);
                    const int size = stages[k].end - stages[k].first;
                    // The longer stages (one block more) come first.
                    QCOMPARE(size, shortest + (static_cast<int64_t>(k) < layers % count ? 1 : 0));
                }
            }
        }
    }

    void moreStagesThanBlocksAreRefusedNamingBoth() {
        const QString message = error_of([] { split_stages(2, 3); });
        QVERIFY2(message.contains("3 pipeline stages") && message.contains("2 blocks"), qPrintable(message));
        QVERIFY(!error_of([] { split_stages(4, 0); }).isEmpty());
        const QString load = error_of([] { Model::load(kGolden / "gpt2-tiny", Precision::Float32, StageRange{1, 3}); });
        QVERIFY2(load.contains("2 blocks"), qPrintable(load));
    }

    void chainedStagesEqualTheWholeModel_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("count");
        for (const char* name : {"gpt2-tiny", "pythia-tiny", "llama-tiny"})
            QTest::newRow(name) << QString::fromStdString((kGolden / name).string()) << 2;
        for (const int count : {2, 3, 5})
            QTest::addRow("deep-gpt2 in %d", count) << QString::fromStdString(deep_gpt2().string()) << count;
    }

    // Logits and every hook point, in execution order under the same names.
    void chainedStagesEqualTheWholeModel() {
        QFETCH(QString, model);
        QFETCH(int, count);
        const fs::path folder = model.toStdString();
        const auto whole = Model::load(folder);
        const Stages stages = load_stages(folder, count);
        const std::vector<int64_t> tokens = some_tokens(9, whole->config().d_vocab);
        const ActivationCache expected = whole->run_with_cache(tokens);
        const ActivationCache actual = chained(stages, tokens);
        QCOMPARE(actual.names(), expected.names());
        require_equal(actual.logits(), expected.logits(), "logits");
        for (const auto& [name, value] : expected.entries())
            require_equal(actual[name], value, name);
    }

    void chainedStagesDecodeAsTheWholeModel_data() { chainedStagesEqualTheWholeModel_data(); }

    // The prompt pass and decode steps, each stage keeping the keys and values of its
    // own layers only.
    void chainedStagesDecodeAsTheWholeModel() {
        QFETCH(QString, model);
        QFETCH(int, count);
        const fs::path folder = model.toStdString();
        const auto whole = Model::load(folder);
        const Stages stages = load_stages(folder, count);
        const std::vector<int64_t> prompt = some_tokens(6, whole->config().d_vocab);
        const auto whole_past = whole->new_kv_cache(10);
        std::vector<std::unique_ptr<KvCache>> owned;
        std::vector<KvCache*> pasts;
        for (const auto& stage : stages) {
            owned.push_back(stage->new_kv_cache(10));
            pasts.push_back(owned.back().get());
        }
        std::vector<int64_t> feed = prompt;
        int64_t start = 0;
        for (int step = 0; step < 4; ++step) {
            const at::Tensor expected = whole->decode(feed, *whole_past);
            const at::Tensor actual = chained(stages, feed, start, pasts).logits()[0][-1];
            require_equal(actual, expected, "logits of step " + std::to_string(step));
            start += static_cast<int64_t>(feed.size());
            QCOMPARE(pasts.back()->length(), start);
            feed = {actual.argmax().item<int64_t>()};
        }
    }

    // A stage takes only its own weights; with a tied unembedding the first and the
    // last stage both hold the embedding matrix.
    void eachStageHoldsOnlyItsOwnWeights_data() { chainedStagesEqualTheWholeModel_data(); }
    void eachStageHoldsOnlyItsOwnWeights() {
        QFETCH(QString, model);
        QFETCH(int, count);
        const fs::path folder = model.toStdString();
        const auto whole = Model::load(folder);
        const ModelConfig& c = whole->config();
        int64_t total = 0;
        for (const auto& stage : load_stages(folder, count))
            total += stage->parameter_count();
        const int64_t shared = c.tie_word_embeddings && count > 1 ? c.d_vocab * c.d_model : 0;
        QCOMPARE(total, whole->parameter_count() + shared);
    }

    void aStageRefusesToRunAsAWholeModel() {
        const Stages stages = load_stages(kGolden / "gpt2-tiny", 2);
        for (const auto& stage : stages) {
            const QString message = error_of([&] { stage->forward({1, 2, 3}); });
            QVERIFY2(message.contains("stage of a pipeline"), qPrintable(message));
        }
    }

    // A stage holds the output projections of its own layers only, and the norm and
    // the unembedding on the last stage alone: it gives none of them rather than a part.
    void aStageRefusesItsReadoutWeightsNamingItsBlocks() {
        const fs::path folder = kGolden / "gpt2-tiny";
        const auto whole = Model::load(folder);
        QCOMPARE(static_cast<int64_t>(whole->readout_weights().layers.size()), whole->config().n_layers);
        for (const auto& stage : load_stages(folder, 2)) {
            const QString message = error_of([&] { stage->readout_weights(); });
            const QString blocks = QString("blocks %1 to %2 of %3")
                                       .arg(stage->stage().first)
                                       .arg(stage->stage().end - 1)
                                       .arg(whole->config().n_layers);
            QVERIFY2(message.contains(blocks), qPrintable(message));
        }
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestStages)

} // namespace tst_stages
#include "tst_stages.moc"
