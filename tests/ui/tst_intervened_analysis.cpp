// The window's analyses of runs with interventions: the logit lens and attribution
// recompute a run with the interventions it had, a patching sweep applies the panel's,
// and a cache file read back says which interventions its run had.

#include "bridge/analysis/patching.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/io/intervention_files.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/heatmap_plot.h"
#include "ui/intervention_panel.h"
#include "ui/lens_view.h"
#include "ui/main_window.h"
#include "ui/patching_view.h"
#include "ui/prompt_panel.h"
#include "ui/run_compare.h"
#include "ui/run_views.h"

#include <ATen/ATen.h>

#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>

namespace tst_intervened_analysis {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;

namespace {

const std::vector<std::string> kSpecs{"blocks.1.attn.hook_z@2=zero", "blocks.1.hook_resid_pre=zero"};

// Runs `ids` in `w` and waits for its cache.
void run_prompt(MainWindow& w, const QString& ids) {
    w.prompt_panel()->prompt_edit()->setPlainText(ids);
    QSignalSpy shown(&w, &MainWindow::cacheShown);
    QVERIFY(w.run_prompt());
    QVERIFY(shown.wait(60'000));
}

Interventions loaded(const Model& model, const std::vector<std::string>& specs, int64_t positions) {
    InterventionContext context;
    context.first_pass_length = context.max_positions = positions;
    return load_interventions(specs, model, context);
}

// The largest difference between the lens heatmap (top-1 probabilities) and `lens`.
double lens_difference(const Matrix& m, const std::vector<LensLayer>& lens) {
    double largest = 0;
    for (std::size_t l = 0; l < lens.size(); ++l) {
        for (int64_t p = 0; p < lens[l].positions; ++p)
            largest = std::max(largest, std::abs(m.at(static_cast<int64_t>(l), p) - lens[l].prob(p, 0)));
    }
    return largest;
}

} // namespace

class TestIntervenedAnalysis : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    // The lens and the attribution of a run with a zero-ablation show that run, not the
    // plain one; the attribution's extra part is what attribute_run says; the pinned
    // run's lens keeps the pinned run's interventions.
    void lensAndAttributionRecomputeTheRunWithItsInterventions() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        for (const std::string& spec : kSpecs)
            w.intervention_panel()->add_spec(QString::fromStdString(spec));
        run_prompt(w, "0 17 42 99 128");
        QCOMPARE(w.last_run()->interventions, kSpecs);
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128};
        const auto model = Model::load(kGpt2);
        Interventions interventions = loaded(*model, kSpecs, 5);
        const std::vector<LensLayer> intervened = lens_run(*model, tokens, 5, next_tokens(tokens), &interventions);
        const std::vector<LensLayer> plain = lens_run(*model, tokens, 5, next_tokens(tokens), nullptr);

        QSignalSpy lens(&w, &MainWindow::lensShown);
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY(lens.wait(30'000));
        const Matrix m = w.lens_view()->heatmap()->matrix();
        QCOMPARE(m.rows, int64_t{3});
        const double off = lens_difference(m, intervened), from_plain = lens_difference(m, plain);
        qInfo("lens: max |diff| %.3g to the intervened run, %.3g to the plain one", off, from_plain);
        QVERIFY(off < 1e-6);
        QVERIFY(from_plain > 1e-3);

        AttributionView* attribution = w.attribution_view();
        w.view_tabs()->setCurrentWidget(attribution);
        attribution->position()->setValue(4);
        attribution->target()->setText("17");
        QSignalSpy attributed(&w, &MainWindow::attributionShown);
        attribution->compute_button()->click();
        QVERIFY(attributed.wait(30'000));
        const RunAttribution want = attribute_run(*model, tokens, 4, 17, std::nullopt, &interventions);
        const RunAttribution without = attribute_run(*model, tokens, 4, 17, std::nullopt, nullptr);
        const Attribution& a = *attribution->attribution();
        QVERIFY(std::abs(a.logit - want.attribution.logit) < 1e-9);
        QVERIFY(std::abs(a.logit - without.attribution.logit) > 1e-3);
        QCOMPARE(a.heads[1][2], 0.0); // the ablated head adds nothing
        QVERIFY(std::abs(without.attribution.heads[1][2]) > 1e-6);
        QVERIFY(want.interventions && attribution->interventions_part());
        QVERIFY(std::abs(*attribution->interventions_part() - *want.interventions) < 1e-9);
        QVERIFY(std::abs(*want.interventions) > 1e-3); // block 0's output never reaches the logit
        QCOMPARE(a.sum, a.logit);
        QVERIFY2(attribution->summary()->text().contains("interventions"), qPrintable(attribution->summary()->text()));

        // Pinned, then a plain run: the lens of this run is the plain one, the pinned
        // run's lens still has its interventions.
        w.pin_run();
        w.intervention_panel()->set_rows({});
        w.view_tabs()->setCurrentWidget(w.attention_view());
        run_prompt(w, "0 17 42 99 128");
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY(lens.wait(30'000));
        QVERIFY(lens_difference(w.lens_view()->heatmap()->matrix(), plain) < 1e-6);
        w.lens_view()->compare()->set_mode(CompareMode::Pinned);
        QVERIFY(lens.wait(30'000));
        QVERIFY(lens_difference(w.lens_view()->heatmap()->matrix(), intervened) < 1e-6);
    }

    // The sweep applies the panel's interventions to both of its runs: its grids are
    // patching_sweep's with them, not without; its window and message say so.
    void patchingSweepAppliesThePanelsInterventions() {
        MainWindow w;
        load(w, kGpt2);
        const std::vector<int64_t> clean{3, 14, 15, 92, 65}, corrupted{3, 14, 27, 92, 65};
        run_prompt(w, "3 14 15 92 65");
        w.pin_run();
        run_prompt(w, "3 14 27 92 65");
        const std::vector<std::string> specs{"blocks.0.attn.hook_z@1=zero"};
        w.intervention_panel()->add_spec(QString::fromStdString(specs.front()));
        auto* page = w.findChild<PatchingView*>("patchingView");
        QSignalSpy swept(&w, &MainWindow::patchingShown);
        page->run_button()->click();
        QVERIFY(swept.wait(60'000));

        const auto model = Model::load(kGpt2);
        PatchingRequest request;
        request.clean = clean;
        request.corrupted = corrupted;
        const PatchingResult plain = *patching_sweep(*model, request);
        request.interventions = loaded(*model, specs, 5);
        const PatchingResult expected = *patching_sweep(*model, request);
        QVERIFY(std::abs(expected.corrupted_logit_diff - plain.corrupted_logit_diff) > 1e-4);
        for (const PatchingGrid& grid : expected.grids) {
            const at::Tensor want = expected.normalized(grid)->to(at::kDouble).contiguous();
            const Matrix m = page->heatmap(grid.site)->matrix();
            QCOMPARE(m.rows * m.cols, want.numel());
            QVERIFY(std::equal(m.values.begin(), m.values.end(), want.data_ptr<double>()));
        }
        QVERIFY2(page->message()->text().contains("Both runs with 1 interventions"),
                 qPrintable(page->message()->text()));
        QVERIFY(w.findChild<QDialog*>("patchingDialog")->windowTitle().contains("with 1 interventions"));
    }

    // An export of a run with interventions, opened as a cache file (safetensors or
    // .npz), says its run had them.
    void openedCacheFilesSayTheirRunHadInterventions() {
        QTemporaryDir dir;
        MainWindow w;
        load(w, kGpt2);
        w.intervention_panel()->add_spec("blocks.0.attn.hook_z@1=zero");
        run_prompt(w, "0 17 42 99");
        for (const char* name : {"run.safetensors", "run.npz"}) {
            const QString path = dir.filePath(name);
            QSignalSpy exported(&w, &MainWindow::exportFinished);
            w.export_to(path, {"blocks.0.attn.hook_z"});
            QVERIFY(exported.wait(30'000));
            QVERIFY2(exported.first().at(0).toBool(), qPrintable(exported.first().at(1).toString()));

            MainWindow reader;
            QSignalSpy opened(&reader, &MainWindow::cacheOpened);
            reader.open_cache(path);
            QVERIFY(opened.wait(30'000));
            QCOMPARE(reader.last_run()->interventions, std::vector<std::string>{"blocks.0.attn.hook_z@1=zero"});
            QVERIFY(reader.last_run()->interventions_json.find("hook_z@1=zero") != std::string::npos);
            QCOMPARE(reader.findChild<QLabel*>("interventionNote")->text(), QString("This run with 1 intervention"));
        }
    }
};

HOOKSCOPE_TEST_MAIN(TestIntervenedAnalysis)

} // namespace tst_intervened_analysis
#include "tst_intervened_analysis.moc"
