// ModelRunner without a window: a load reports the model, a generation streams its
// tokens and hands back the recompute's cache, a superseded load is dropped, and a
// failure says what failed. Links Qt Core only.

#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"
#include "ui/runner/model_runner.h"

#include <ATen/ATen.h>

#include <QSignalSpy>
#include <QtTest>

#include <optional>

namespace tst_model_runner {

using namespace hookscope;
using namespace hookscope::ui;

namespace {

const QString kGolden = QString(HOOKSCOPE_FIXTURES) + "/golden/";

// Loads golden checkpoint `name` into `runner` and waits for it.
void load_golden(ModelRunner& runner, const QString& name) {
    QSignalSpy loaded(&runner, &ModelRunner::modelLoaded);
    runner.load(kGolden + name);
    QVERIFY(loaded.wait(60'000));
}

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

    // The request's SPECs act in the run: the zeroed head's hook_z is zero in the
    // cache, the other heads are the run without them, and the result names them.
    void interventionsActInTheRunAndAreRecorded() {
        ModelRunner runner;
        load_golden(runner, "gpt2-tiny");
        std::optional<RunResult> result;
        connect(&runner, &ModelRunner::finished, this, [&](int, const RunResult& r) { result = r; });
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{5, 17, 42, 99};
        request.max_new_tokens = 3;
        request.greedy = true;
        request.names_filter = "blocks.0.attn.hook_z, blocks.1.hook_resid_post";
        request.interventions = {"blocks.0.attn.hook_z@1=zero"};
        runner.generate(request);
        QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 60'000);
        QCOMPARE(result->interventions, std::vector<std::string>{"blocks.0.attn.hook_z@1=zero"});
        QVERIFY(result->interventions_json.find("blocks.0.attn.hook_z@1=zero") != std::string::npos);

        const at::Tensor z = (*result->cache)["blocks.0.attn.hook_z"]; // [1, P, H, d_head]
        QCOMPARE(z.select(2, 1).abs().max().item<double>(), 0.0);
        QVERIFY(z.select(2, 0).abs().max().item<double>() > 0);

        // The same tokens without interventions: the other heads agree, the output not.
        const auto model = Model::load((kGolden + "gpt2-tiny").toStdString());
        const ActivationCache plain =
            model->run_with_cache(result->tokens, NamesFilter(request.names_filter.toStdString()));
        HS_COMPARE_TENSORS(z.select(2, 0), plain["blocks.0.attn.hook_z"].select(2, 0), "head 0");
        QVERIFY(!at::allclose((*result->cache)["blocks.1.hook_resid_post"], plain["blocks.1.hook_resid_post"]));
    }

    // `patch:@pinned` reads the request's pinned cache: patching every position of the
    // residual stream from a run of other tokens gives that run's stream.
    void patchFromThePinnedRunTakesItsValues() {
        ModelRunner runner;
        load_golden(runner, "gpt2-tiny");
        const auto model = Model::load((kGolden + "gpt2-tiny").toStdString());
        const std::vector<int64_t> clean{7, 8, 9, 10};
        auto pinned = std::make_shared<const ActivationCache>(
            model->run_with_cache(clean, NamesFilter("blocks.1.hook_resid_pre")));
        std::optional<RunResult> result;
        connect(&runner, &ModelRunner::finished, this, [&](int, const RunResult& r) { result = r; });
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{1, 2, 3, 4};
        request.names_filter = "blocks.1.hook_resid_pre";
        request.interventions = {"blocks.1.hook_resid_pre=patch:@pinned"};
        request.pinned = pinned;
        runner.run(request);
        QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 60'000);
        HS_COMPARE_TENSORS((*result->cache)["blocks.1.hook_resid_pre"], (*pinned)["blocks.1.hook_resid_pre"],
                           "patched resid_pre");
    }

    // A bad SPEC fails the request with the bridge's message, before anything runs.
    void aBadSpecFailsTheRequestBeforeItStarts() {
        ModelRunner runner;
        load_golden(runner, "gpt2-tiny");
        QSignalSpy failed(&runner, &ModelRunner::failed);
        QSignalSpy started(&runner, &ModelRunner::started);
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{1, 2, 3};
        request.interventions = {"blocks.0.attn.hook_z@9=zero"};
        runner.generate(request);
        QVERIFY(failed.wait(30'000));
        QVERIFY2(failed.first()[2].toString().contains("blocks.0.attn.hook_z@9=zero"),
                 qPrintable(failed.first()[2].toString()));
        QCOMPARE(started.size(), 0);
        QVERIFY(!runner.busy());
    }

    // The sweep on the worker gives patching_sweep's grids, normalized, with progress
    // up to the total.
    void patchingGivesTheSweepsNormalizedGrids() {
        ModelRunner runner;
        load_golden(runner, "gpt2-tiny");
        std::optional<PatchingOutcome> outcome;
        connect(&runner, &ModelRunner::patchingReady, this, [&](int, const PatchingOutcome& o) { outcome = o; });
        QSignalSpy progress(&runner, &ModelRunner::patchingProgress);
        PatchingJob job;
        job.clean = {3, 14, 15, 92, 65};
        job.corrupted = {3, 14, 27, 92, 65};
        runner.compute_patching(job);
        QTRY_VERIFY_WITH_TIMEOUT(outcome.has_value(), 60'000);
        QVERIFY(!progress.isEmpty());
        QCOMPARE(progress.last()[1].value<int64_t>(), progress.last()[2].value<int64_t>());

        const auto model = Model::load((kGolden + "gpt2-tiny").toStdString());
        PatchingRequest request;
        request.clean = job.clean;
        request.corrupted = job.corrupted;
        const PatchingResult expected = *patching_sweep(*model, request);
        QCOMPARE(outcome->answer, expected.answer);
        QCOMPARE(outcome->wrong, expected.wrong);
        QCOMPARE(outcome->grids.size(), expected.grids.size());
        for (std::size_t i = 0; i < expected.grids.size(); ++i) {
            const PatchingGridData& g = outcome->grids[i];
            QCOMPARE(g.site, expected.grids[i].site);
            QVERIFY(g.normalized);
            const at::Tensor want = expected.normalized(expected.grids[i])->to(at::kDouble).contiguous();
            QCOMPARE(g.values.rows, want.size(0));
            QCOMPARE(g.values.cols, want.size(1));
            QVERIFY(std::equal(g.values.values.begin(), g.values.values.end(), want.data_ptr<double>()));
        }
        QCOMPARE(outcome->grids[3].values.cols, int64_t(4)); // head_out: layer x head
    }

    // Prompts of different lengths fail with the bridge's message.
    void patchingRunsOfDifferentLengthsFails() {
        ModelRunner runner;
        load_golden(runner, "gpt2-tiny");
        QSignalSpy failed(&runner, &ModelRunner::failed);
        PatchingJob job;
        job.clean = {1, 2, 3};
        job.corrupted = {1, 2};
        runner.compute_patching(job);
        QVERIFY(failed.wait(30'000));
        QCOMPARE(failed.first()[1].toString(), QString("Patching"));
        QVERIFY(!runner.busy());
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

HOOKSCOPE_TEST_GUILESS_MAIN(TestModelRunner)

} // namespace tst_model_runner
#include "tst_model_runner.moc"
