// Interventions in the window: the panel's rows checked as they are typed, the enabled
// valid ones applied to the next run (and recorded by its exports and sessions), the
// invalid ones never applied.

#include "bridge/analysis/patching.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/attention_view.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_panel.h"
#include "ui/intervention_list_model.h"
#include "ui/intervention_panel.h"
#include "ui/main_window.h"
#include "ui/patching_view.h"
#include "ui/prompt_panel.h"
#include "ui/run_compare.h"

#include <ATen/ATen.h>

#include <QAbstractItemModelTester>
#include <QAction>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QToolButton>
#include <QtTest>

namespace tst_intervention_panel {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;

namespace {

InterventionLimits gpt2_limits() {
    const auto model = Model::load(kGpt2);
    InterventionLimits limits;
    limits.hooks = model->hook_points();
    limits.n_ctx = model->config().n_ctx;
    limits.first_pass_length = 4;
    limits.max_positions = 8;
    return limits;
}

// Runs the prompt "0 17 42 99" in `w` and waits for its cache.
void run_prompt(MainWindow& w) {
    w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99");
    QSignalSpy shown(&w, &MainWindow::cacheShown);
    QVERIFY(w.run_prompt());
    QVERIFY(shown.wait(60'000));
}

} // namespace

class TestInterventionPanel : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    // Each row is checked against the model: a bad head, position or hook has the
    // bridge's message naming the SPEC; only enabled rows without one are applied.
    void rowsAreCheckedAndOnlyValidEnabledOnesApply() {
        InterventionListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.set_limits(gpt2_limits());
        model.add({"blocks.0.attn.hook_z@1=zero", true});
        model.add({"blocks.0.attn.hook_z@9=zero", true});
        model.add({"blocks.1.hook_resid_pre:8=zero", true});
        model.add({"blocks.1.hook_mlp_out=mean", false});
        model.add({"blocks.1.hook_nothing=zero", true});
        model.add({"blocks.0.hook_resid_pre=patch:@pinned", true});
        QCOMPARE(model.index(0).data(InterventionListModel::ProblemRole).toString(), QString());
        for (int row : {1, 2, 4, 5}) {
            const QString problem = model.index(row).data(InterventionListModel::ProblemRole).toString();
            QVERIFY2(problem.contains(model.index(row).data().toString()), qPrintable(problem));
        }
        QVERIFY(model.index(5).data(InterventionListModel::ProblemRole).toString().contains("pinned"));
        QCOMPARE(model.applied(), std::vector<std::string>{"blocks.0.attn.hook_z@1=zero"});
        QCOMPARE(model.problem_count(), 4);

        // Switching a row on applies it; pinning a run clears the patch row's problem.
        QVERIFY(model.setData(model.index(3), Qt::Checked, Qt::CheckStateRole));
        InterventionLimits pinned = model.limits();
        pinned.pinned = true;
        model.set_limits(pinned);
        QCOMPARE(model.applied(), (std::vector<std::string>{"blocks.0.attn.hook_z@1=zero", "blocks.1.hook_mlp_out=mean",
                                                            "blocks.0.hook_resid_pre=patch:@pinned"}));
        // Editing a row rechecks it.
        QVERIFY(model.setData(model.index(1), "blocks.0.attn.hook_z@3=zero"));
        QCOMPARE(model.index(1).data(InterventionListModel::ProblemRole).toString(), QString());
        QVERIFY(model.removeRows(0, 2));
        QCOMPARE(model.rowCount(), 4);
    }

    // Typing in a row shows its problem under the list at each keystroke; Delete
    // removes the current row.
    void typingShowsTheProblemAndDeleteRemovesTheRow() {
        InterventionPanel panel;
        panel.set_limits(gpt2_limits());
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QTest::mouseClick(panel.add_button(), Qt::LeftButton);
        QCOMPARE(panel.model()->rowCount(), 1);
        auto* editor = panel.list()->findChild<QLineEdit*>("interventionEditor");
        QVERIFY(editor);
        QTest::keyClicks(editor, "blocks.0.attn.hook_z@7");
        QVERIFY(panel.problem_label()->isVisible());
        QTest::keyClicks(editor, "=zero");
        QVERIFY2(panel.problem_label()->text().contains("blocks.0.attn.hook_z@7=zero"),
                 qPrintable(panel.problem_label()->text()));
        editor->setText("blocks.0.attn.hook_z@2=zero");
        emit editor->textEdited(editor->text());
        QVERIFY(!panel.problem_label()->isVisible());
        QTest::keyClick(editor, Qt::Key_Return);
        // The view commits the row once the key press is handled (a queued call).
        QTRY_COMPARE(panel.applied(), std::vector<std::string>{"blocks.0.attn.hook_z@2=zero"});

        panel.add_spec("blocks.1.hook_resid_pre=zero");
        QCOMPARE(panel.model()->rowCount(), 2);
        panel.list()->setFocus();
        QTest::keyClick(panel.list(), Qt::Key_Delete);
        QCOMPARE(panel.model()->rowCount(), 1);
        QCOMPARE(panel.applied(), std::vector<std::string>{"blocks.0.attn.hook_z@2=zero"});
    }

    // A zero-ablated head's hook_z is zero in the run's cache; a row with a problem
    // stays out of the run; the export records the run's interventions.
    void enabledRowsActOnTheNextRunAndTheExportRecordsThem() {
        MainWindow w;
        load(w, kGpt2);
        InterventionPanel* panel = w.intervention_panel();
        panel->add_spec("blocks.0.attn.hook_z@1=zero");
        panel->add_spec("blocks.0.attn.hook_z@4=zero"); // 4 heads: 0-3
        QVERIFY(!panel->model()->index(1).data(InterventionListModel::ProblemRole).toString().isEmpty());
        run_prompt(w);
        const at::Tensor z = (*w.cache())["blocks.0.attn.hook_z"];
        QCOMPARE(z.select(2, 1).abs().max().item<double>(), 0.0);
        for (int64_t head : {0, 2, 3})
            QVERIFY(z.select(2, head).abs().max().item<double>() > 0);
        QCOMPARE(w.last_run()->interventions, std::vector<std::string>{"blocks.0.attn.hook_z@1=zero"});

        QTemporaryDir dir;
        const QString path = dir.filePath("run.safetensors");
        QSignalSpy exported(&w, &MainWindow::exportFinished);
        w.export_to(path, {"blocks.0.attn.hook_z"});
        QVERIFY(exported.wait(30'000));
        QVERIFY2(exported.first().at(0).toBool(), qPrintable(exported.first().at(1).toString()));
        const auto file = SafetensorsFile::open(path.toStdString());
        QVERIFY(file->metadata().count("interventions"));
        QVERIFY(file->metadata().at("interventions").find("blocks.0.attn.hook_z@1=zero") != std::string::npos);

        // Switched off, the row no longer acts.
        panel->model()->setData(panel->model()->index(0), Qt::Unchecked, Qt::CheckStateRole);
        run_prompt(w);
        QVERIFY((*w.cache())["blocks.0.attn.hook_z"].select(2, 1).abs().max().item<double>() > 0);
        QVERIFY(w.last_run()->interventions.empty());
    }

    // The hook tree's context menu adds a row for the hook or one of its heads; the
    // actions a hook does not take, or that need a pinned run, are off.
    void hookTreeMenuAddsRows() {
        MainWindow w;
        load(w, kGpt2);
        InterventionPanel* panel = w.intervention_panel();
        const auto actions = [&](const QString& hook, const char* name) {
            QMenu* menu = w.hook_panel()->intervention_menu(hook, &w);
            return menu->findChildren<QAction*>(name);
        };
        QList<QAction*> zero = actions("blocks.0.attn.hook_z", "zeroAblate");
        QCOMPARE(zero.size(), 1 + 4); // the hook, then each of its 4 heads
        zero[3]->trigger();
        QCOMPARE(panel->rows().back().text, QString("blocks.0.attn.hook_z@2=zero"));
        actions("blocks.1.hook_resid_pre", "meanAblate").front()->trigger();
        QCOMPARE(panel->rows().back().text, QString("blocks.1.hook_resid_pre=mean"));
        QCOMPARE(actions("blocks.1.hook_resid_pre", "zeroAblate").size(), 1); // no head axis
        QVERIFY(!actions("blocks.0.attn.hook_pattern", "meanAblate").front()->isEnabled());
        QVERIFY(!actions("blocks.0.hook_resid_pre", "patchFromPinned").front()->isEnabled());
        run_prompt(w);
        w.pin_run();
        QAction* patch = actions("blocks.0.hook_resid_pre", "patchFromPinned").front();
        QVERIFY(patch->isEnabled());
        patch->trigger();
        QCOMPARE(panel->rows().back().text, QString("blocks.0.hook_resid_pre=patch:@pinned"));
        QCOMPARE(panel->applied().size(), std::size_t(3));
    }

    // "Ablate this head" in the attention view zeroes the head in view on the next run.
    void attentionViewAblatesTheHeadInView() {
        MainWindow w;
        load(w, kGpt2);
        run_prompt(w);
        w.attention_view()->show_head(1, 3);
        w.attention_view()->ablate_head_action()->trigger();
        QCOMPARE(w.intervention_panel()->applied(), std::vector<std::string>{"blocks.1.attn.hook_z@3=zero"});
        run_prompt(w);
        const at::Tensor z = (*w.cache())["blocks.1.attn.hook_z"];
        QCOMPARE(z.select(2, 3).abs().max().item<double>(), 0.0);
        QVERIFY(z.select(2, 2).abs().max().item<double>() > 0);
    }

    // The views say when the run in view, or the pinned one, had interventions; a run
    // with them pinned compares with one without.
    void viewsSayWhenARunHadInterventionsAndCompareWithThePinnedOne() {
        MainWindow w;
        load(w, kGpt2);
        w.intervention_panel()->add_spec("blocks.1.attn.hook_z@0=zero");
        w.intervention_panel()->add_spec("blocks.0.hook_mlp_out=zero");
        run_prompt(w);
        QLabel* note = w.findChild<QLabel*>("interventionNote");
        QVERIFY(note);
        QCOMPARE(note->text(), QString("This run with 2 interventions"));
        QVERIFY(note->toolTip().contains("blocks.0.hook_mlp_out=zero"));
        const std::shared_ptr<const ActivationCache> ablated = w.cache();
        w.pin_run();

        w.intervention_panel()->set_rows({});
        run_prompt(w);
        QCOMPARE(note->text(), QString("pinned run with 2 interventions"));
        QVERIFY(w.last_run()->interventions.empty());
        // Side by side, the pinned (ablated) head beside this run's.
        w.attention_view()->compare()->set_mode(CompareMode::SideBySide);
        w.attention_view()->show_head(1, 0);
        const at::Tensor pinned = (*ablated)["blocks.1.attn.hook_pattern"][0][0].to(at::kDouble).contiguous();
        const Matrix m = w.attention_view()->pinned_heatmap()->matrix();
        QVERIFY(std::equal(m.values.begin(), m.values.end(), pinned.data_ptr<double>()));
        const Matrix current = w.attention_view()->heatmap()->matrix();
        QVERIFY(!std::equal(current.values.begin(), current.values.end(), pinned.data_ptr<double>()));
        w.unpin_run();
        QVERIFY(note->isHidden());
    }

    // The Patching page sweeps the pinned run into this one on the worker: its grids
    // are patching_sweep's normalized ones, and a clicked cell adds its patch.
    void patchingPageSweepsAndAddsTheClickedCell() {
        MainWindow w;
        load(w, kGpt2);
        const std::vector<int64_t> clean{3, 14, 15, 92, 65}, corrupted{3, 14, 27, 92, 65};
        w.prompt_panel()->prompt_edit()->setPlainText("3 14 15 92 65");
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(60'000));
        w.pin_run();
        auto* page = w.findChild<PatchingView*>("patchingView");
        QVERIFY(page);
        w.prompt_panel()->prompt_edit()->setPlainText("1 2 3");
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(60'000));
        QVERIFY(!page->run_button()->isEnabled()); // lengths differ
        QVERIFY2(page->message()->text().contains("same length"), qPrintable(page->message()->text()));
        w.prompt_panel()->prompt_edit()->setPlainText("3 14 27 92 65");
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(60'000));
        QVERIFY(page->run_button()->isEnabled());

        QSignalSpy swept(&w, &MainWindow::patchingShown);
        QTest::mouseClick(page->run_button(), Qt::LeftButton);
        QVERIFY(swept.wait(60'000));
        const auto model = Model::load(kGpt2);
        PatchingRequest request;
        request.clean = clean;
        request.corrupted = corrupted;
        const PatchingResult expected = *patching_sweep(*model, request);
        for (const PatchingGrid& grid : expected.grids) {
            const at::Tensor want = expected.normalized(grid)->to(at::kDouble).contiguous();
            const Matrix m = page->heatmap(grid.site)->matrix();
            QCOMPARE(m.rows, want.size(0));
            QCOMPARE(m.cols, want.size(1));
            QVERIFY(std::equal(m.values.begin(), m.values.end(), want.data_ptr<double>()));
        }
        QVERIFY(!page->heatmap(PatchSite::ResidPre)->color_map()->interpolate());

        emit page->heatmap(PatchSite::HeadOut)->cellClicked(1, 2);
        QCOMPARE(w.intervention_panel()->rows().back().text, QString("blocks.1.attn.hook_z@2=patch:@pinned"));
        emit page->heatmap(PatchSite::ResidPre)->cellClicked(0, 2);
        QCOMPARE(w.intervention_panel()->rows().back().text, QString("blocks.0.hook_resid_pre:2=patch:@pinned"));
        QCOMPARE(w.intervention_panel()->applied().size(), std::size_t(2));
    }

    // A session keeps the panel's rows and the run's interventions.
    void sessionsKeepThePanelAndTheRunsInterventions() {
        QTemporaryDir dir;
        const QString file = dir.filePath("run.hookscope.safetensors");
        const std::vector<InterventionRow> rows{{"blocks.0.attn.hook_z@1=zero", true},
                                                {"blocks.1.hook_mlp_out=zero", false}};
        {
            MainWindow w;
            load(w, kGpt2);
            w.intervention_panel()->set_rows(rows);
            run_prompt(w);
            QSignalSpy saved(&w, &MainWindow::sessionSaved);
            w.save_session_to(file);
            QVERIFY(saved.wait(30'000));
            QVERIFY2(saved.first().at(0).toBool(), qPrintable(saved.first().at(1).toString()));
        }
        MainWindow w;
        QSignalSpy opened(&w, &MainWindow::sessionOpened);
        w.open_session(file);
        QVERIFY(opened.wait(30'000));
        QCOMPARE(w.intervention_panel()->rows(), rows);
        QCOMPARE(w.last_run()->interventions, std::vector<std::string>{"blocks.0.attn.hook_z@1=zero"});
        QVERIFY(w.last_run()->interventions_json.find("hook_z@1=zero") != std::string::npos);
        QSignalSpy loaded(w.runner(), &ModelRunner::modelLoaded);
        QVERIFY(loaded.wait(60'000)); // its model, beneath the views
    }
};

HOOKSCOPE_TEST_MAIN(TestInterventionPanel)

} // namespace tst_intervention_panel
#include "tst_intervention_panel.moc"
