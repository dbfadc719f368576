// ModelRunner without a window: a load reports the model, a generation streams its
// tokens and hands back the recompute's cache, a superseded load is dropped, and a
// failure says what failed. Links Qt Core only.

#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/tensor_compare.h"
#include "ui/runner/model_runner.h"

#include <QSignalSpy>
#include <QtTest>

#include <optional>

using namespace hookscope;
using namespace hookscope::ui;

namespace {

const QString kGolden = QString(HOOKSCOPE_FIXTURES) + "/golden/";

} // namespace

class TestModelRunner : public QObject {
    Q_OBJECT

private slots:
    void loadReportsTheModel() {
        ModelRunner runner;
        QSignalSpy loaded(&runner, &ModelRunner::modelLoaded);
        QSignalSpy busy(&runner, &ModelRunner::busyChanged);
        const int id = runner.load(kGolden + "llama-tiny");
        QVERIFY(loaded.wait(60'000));
        QCOMPARE(loaded.first()[0].toInt(), id);
        const auto model = Model::load((kGolden + "llama-tiny").toStdString());
        const ModelSummary& s = *runner.summary();
        QCOMPARE(s.architecture, QString("Llama"));
        QCOMPARE(s.layers, model->config().n_layers);
        QCOMPARE(s.heads, model->config().n_heads);
        QCOMPARE(s.kv_heads, model->config().n_kv_heads);
        QCOMPARE(s.parameters, model->parameter_count());
        QCOMPARE(s.hooks.size(), model->hook_points().size());
        QCOMPARE(s.fingerprint, model->fingerprint());
        QTRY_VERIFY(!runner.busy());
        QVERIFY(busy.size() >= 2); // busy, then idle again
    }

    // The tokens arrive one signal each, and the cache is the recompute over all of
    // them: what run_with_cache gives for the output.
    void generateStreamsTokensAndReturnsTheRecomputeCache() {
        ModelRunner runner;
        QSignalSpy loaded(&runner, &ModelRunner::modelLoaded);
        runner.load(kGolden + "gpt2-tiny");
        QVERIFY(loaded.wait(60'000));
        QSignalSpy tokens(&runner, &ModelRunner::tokenGenerated);
        std::optional<RunResult> result;
        connect(&runner, &ModelRunner::finished, this, [&](int, const RunResult& r) { result = r; });
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{5, 17, 42};
        request.max_new_tokens = 4;
        request.greedy = true;
        request.names_filter = "blocks.*.hook_resid_post, blocks.1.attn.hook_pattern";
        const int id = runner.generate(request);
        QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 60'000);
        QCOMPARE(tokens.size(), 4);
        QCOMPARE(tokens.first()[0].toInt(), id);
        QCOMPARE(result->prompt_length, int64_t(3));
        QCOMPARE(result->tokens.size(), std::size_t(7));
        QCOMPARE(result->stop_reason, QString("max_new_tokens"));
        for (int i = 0; i < tokens.size(); ++i)
            QCOMPARE(tokens[i][1].value<int64_t>(), result->tokens[static_cast<std::size_t>(3 + i)]);

        const auto model = Model::load((kGolden + "gpt2-tiny").toStdString());
        const ActivationCache expected =
            model->run_with_cache(result->tokens, NamesFilter(request.names_filter.toStdString()));
        QCOMPARE(result->cache->size(), expected.size());
        for (const auto& [name, tensor] : expected.entries()) {
            QVERIFY2(result->cache->find(name), name.c_str());
            HS_COMPARE_TENSORS(*result->cache->find(name), tensor, name);
        }
    }

    // A load that a later one superseded never reports, and never replaces the model.
    void aLaterLoadSupersedesAnEarlierOne() {
        ModelRunner runner;
        QSignalSpy loaded(&runner, &ModelRunner::modelLoaded);
        runner.load(kGolden + "gpt2-tiny");
        const int later = runner.load(kGolden + "pythia-tiny");
        QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && loaded.size() >= 1, 60'000);
        QTest::qWait(50); // anything still queued from the first load would arrive now
        QCOMPARE(loaded.size(), 1);
        QCOMPARE(loaded.first()[0].toInt(), later);
        QCOMPARE(runner.summary()->architecture, QString("GPT-NeoX"));
    }

    void aFailedLoadSaysWhatAndWhy() {
        ModelRunner runner;
        QSignalSpy failed(&runner, &ModelRunner::failed);
        const int id = runner.load("/no/such/checkpoint");
        QVERIFY(failed.wait(30'000));
        QCOMPARE(failed.first()[0].toInt(), id);
        QVERIFY2(failed.first()[1].toString().contains("/no/such/checkpoint"),
                 qPrintable(failed.first()[1].toString()));
        QVERIFY2(failed.first()[2].toString().contains("config.json"), qPrintable(failed.first()[2].toString()));
        QVERIFY(!runner.summary().has_value());
    }
};

QTEST_GUILESS_MAIN(TestModelRunner)
#include "tst_model_runner.moc"
