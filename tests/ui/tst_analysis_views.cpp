// The window's analysis side, driven as a user drives it: the logit lens and
// attribution views, caches opened from files, pinned runs compared, and the cache
// size guard before a run.

#include "bridge/io/export.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_filter_proxy.h"
#include "ui/hook_panel.h"
#include "ui/lens_view.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/run_compare.h"
#include "ui/tensor_view.h"

#include <ATen/ATen.h>

#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

namespace tst_analysis_views {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;
namespace fs = std::filesystem;

class TestAnalysisViews : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    // The Heads view shows the scores of every head; clicking one opens it in the
    // attention view.
    // A cache saved from Python: no metadata, no batch axis, TransformerBridge names
    // and a tensor of its own. It opens without a model; the views that need the
    // weights say so.
    void foreignCachesOpenWithoutAModel() {
        QTemporaryDir dir;
        const auto model = Model::load(kGpt2);
        const ActivationCache run = model->run_with_cache({0, 17, 42, 99, 128}, {});
        NamedTensors tensors;
        for (const auto& [name, tensor] : run.entries()) {
            const std::string bridge_name = name == "blocks.1.hook_resid_post" ? "blocks.1.hook_out" : name;
            tensors.emplace_back(bridge_name, tensor.squeeze(0));
        }
        tensors.emplace_back("probe.direction", at::ones({64}));
        const QString file = dir.filePath("from-python.safetensors");
        write_safetensors(file.toStdString(), tensors);

        MainWindow w;
        w.show();
        QSignalSpy opened(&w, &MainWindow::cacheOpened);
        w.open_cache(file);
        QVERIFY(opened.wait(30'000));
        QCOMPARE(w.cache()->tokens(), std::vector<int64_t>(5, -1));
        QVERIFY(at::equal((*w.cache())["blocks.1.hook_resid_post"], run["blocks.1.hook_resid_post"]));
        QCOMPARE((*w.cache())["blocks.0.attn.hook_pattern"].sizes().vec(), (std::vector<int64_t>{1, 4, 5, 5}));
        QStringList shown;
        shown_hooks(*w.hook_panel()->proxy(), {}, shown);
        QVERIFY(shown.contains("probe.direction"));
        const QModelIndex other = w.hook_panel()->proxy()->index(w.hook_panel()->proxy()->rowCount() - 1, 0);
        QCOMPARE(other.data().toString(), QString("other"));
        QVERIFY2(w.findChild<QLabel*>("statusText")->text().contains("1 TransformerBridge name read"),
                 qPrintable(w.findChild<QLabel*>("statusText")->text()));
        // The attention view reads the file; the lens needs the weights and says so.
        w.select_hook("blocks.0.attn.hook_pattern");
        QCOMPARE(w.attention_view()->heatmap()->matrix().rows, int64_t{5});
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY2(w.lens_view()->note()->text().contains("open the checkpoint"),
                 qPrintable(w.lens_view()->note()->text()));

        // Our .npz export opens with its token ids, and with the model the lens runs.
        const QString npz = dir.filePath("ours.npz");
        export_cache(
            run, npz.toStdString(),
            export_info_for(kGpt2.string(), model->fingerprint(), nullptr, run.tokens(), 5, "{}", Precision::Float32));
        load(w, kGpt2);
        w.open_cache(npz);
        QVERIFY(opened.wait(30'000));
        QCOMPARE(w.cache()->tokens(), (std::vector<int64_t>{0, 17, 42, 99, 128}));
        QSignalSpy lens(&w, &MainWindow::lensShown);
        w.view_tabs()->setCurrentWidget(w.attention_view());
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY(lens.wait(30'000));
        QCOMPARE(w.lens_view()->heatmap()->matrix().cols, int64_t{5});
    }

    // The logit lens and the attribution follow the run in view, from the model's weights.
    void analysisViewsReadTheRun() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99 128 255 256 300 411 500 7 511"); // the golden ids
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(30'000));
        const at::Tensor logits = SafetensorsFile::open(kGpt2 / "golden.safetensors")->tensor("logits")[0];

        // Showing the lens tab computes it.
        QSignalSpy lens(&w, &MainWindow::lensShown);
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY(lens.wait(30'000));
        HeatmapPlot* plot = w.lens_view()->heatmap();
        QCOMPARE(plot->matrix().rows, int64_t{3}); // resid_pre 0, resid_pre 1, resid_post 1
        QCOMPARE(plot->matrix().cols, int64_t{12});
        const at::Tensor top = std::get<0>(at::softmax(logits, -1).max(-1)); // the last row is the model's output
        for (int64_t p = 0; p < 12; ++p)
            QVERIFY(std::abs(plot->matrix().at(2, p) - top[p].item<double>()) < 1e-5);
        QVERIFY2(plot->describe(2, 3).contains("blocks.1.hook_resid_post at position 3 ([99])"),
                 qPrintable(plot->describe(2, 3)));
        QVERIFY2(plot->describe(0, 3).contains("next token [128]: probability"), qPrintable(plot->describe(0, 3)));
        QTRY_VERIFY(plot->shown_cell_texts() > 0); // the top token named in its cell
        w.lens_view()->set_mode(LensView::TargetRank);
        QVERIFY(std::isnan(plot->matrix().at(0, 11))); // nothing came after the last token
        QVERIFY(plot->matrix().at(2, 0) > 0 && plot->matrix().at(2, 0) <= 1);
        // A chosen target: its probability at every position, the last included.
        w.lens_view()->target()->setText("17");
        w.lens_view()->set_mode(LensView::TargetProbability);
        QTest::mouseClick(w.lens_view()->compute_button(), Qt::LeftButton);
        QVERIFY(lens.wait(30'000));
        const at::Tensor p17 = at::softmax(logits, -1).select(1, 17);
        for (int64_t p = 0; p < 12; ++p)
            QVERIFY(std::abs(plot->matrix().at(2, p) - p17[p].item<double>()) < 1e-5);
        QVERIFY2(plot->describe(2, 11).contains("target [17]: probability"), qPrintable(plot->describe(2, 11)));
        w.lens_view()->target()->setText("not a token");
        QTest::mouseClick(w.lens_view()->compute_button(), Qt::LeftButton);
        QVERIFY(w.lens_view()->note()->text().contains("has no tokenizer"));

        // Attribution of the last position's logit for token 17.
        AttributionView* attribution = w.attribution_view();
        QCOMPARE(attribution->position()->maximum(), 11);
        QCOMPARE(attribution->position()->value(), 11);
        attribution->target()->setText("17");
        QSignalSpy attributed(&w, &MainWindow::attributionShown);
        QTest::mouseClick(attribution->compute_button(), Qt::LeftButton);
        QVERIFY(attributed.wait(30'000));
        const Attribution& a = *attribution->attribution();
        QVERIFY(std::abs(a.logit - logits[11][17].item<double>()) < 1e-4);
        QCOMPARE(attribution->heatmap()->matrix().rows, int64_t{2});
        QCOMPARE(attribution->heatmap()->matrix().cols, int64_t{5}); // 4 heads and the MLP
        double total = a.embed + a.pos_embed.value_or(0) + a.biases + a.constant;
        for (const double v : attribution->heatmap()->matrix().values)
            total += v;
        QVERIFY(std::abs(total - a.logit) < 1e-4);
        QVERIFY2(attribution->summary()->text().contains("logit of [17] at position 11"),
                 qPrintable(attribution->summary()->text()));

        // Without a target, position 3 attributes the token that came next.
        attribution->target()->clear();
        attribution->position()->setValue(3);
        attribution->compute_button()->click();
        QVERIFY(attributed.wait(30'000));
        QCOMPARE(attribution->attribution()->target, int64_t{128});
        // A target that is not a token is refused under the controls.
        attribution->target()->setText("x y");
        attribution->compute_button()->click();
        QVERIFY(!w.findChild<QLabel*>("attributionError")->isHidden());
        QVERIFY(w.findChild<QLabel*>("attributionError")->text().contains("has no tokenizer"));

        // Clicking a head opens it in the attention view.
        emit attribution->heatmap()->cellClicked(1, 2);
        QCOMPARE(w.view_tabs()->currentWidget(), static_cast<QWidget*>(w.attention_view()));
    }

    // A pinned run beside the next one: identical up to the first token that differs
    // (the model is causal), different after it; runs of other lengths align by position.
    void pinnedRunsCompare() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99");
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(30'000));
        w.pin_run();
        QCOMPARE(w.pinned(), w.cache());
        w.prompt_panel()->prompt_edit()->setPlainText("0 17 43 99 128 255");
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(30'000));

        TensorView* tensor = w.tensor_view();
        QVERIFY(!tensor->compare()->isHidden());
        w.select_hook("blocks.1.hook_resid_post");
        tensor->compare()->set_mode(CompareMode::Difference);
        const Matrix& m = tensor->heatmap()->matrix();
        QCOMPARE(m.rows, int64_t{4}); // the positions both runs have
        double before = 0, after = 0;
        for (int64_t c = 0; c < m.cols; ++c) {
            before = std::max({before, std::abs(m.at(0, c)), std::abs(m.at(1, c))});
            after = std::max({after, std::abs(m.at(2, c)), std::abs(m.at(3, c))});
        }
        QVERIFY2(before < 1e-5 && after > 1e-2, qPrintable(QString("%1 %2").arg(before).arg(after)));
        QVERIFY(tensor->findChild<QLabel*>("tensorTitle")
                    ->text()
                    .contains("over the first 4 positions (the runs have 6 and 4)"));
        tensor->compare()->set_mode(CompareMode::Pinned);
        QCOMPARE(tensor->heatmap()->matrix().rows, int64_t{4});

        AttentionView* attention = w.attention_view();
        attention->compare()->set_mode(CompareMode::Difference);
        attention->show_head(0, 1);
        QCOMPARE(attention->heatmap()->matrix().rows, int64_t{4});
        QVERIFY(std::abs(attention->heatmap()->matrix().at(1, 0)) < 1e-6); // the same tokens so far attend alike
        QCOMPARE(attention->heatmap()->matrix().at(0, 1), 0.0);            // masked in both
        // Side by side: both runs, whole, on one colour scale.
        attention->compare()->set_mode(CompareMode::SideBySide);
        QVERIFY(attention->pinned_heatmap()->isVisibleTo(attention));
        QCOMPARE(attention->heatmap()->matrix().rows, int64_t{6});
        QCOMPARE(attention->pinned_heatmap()->matrix().rows, int64_t{4});
        QCOMPARE(attention->heatmap()->color_map()->dataRange(), attention->pinned_heatmap()->color_map()->dataRange());
        tensor->compare()->set_mode(CompareMode::SideBySide);
        QVERIFY(tensor->pinned_heatmap()->isVisibleTo(tensor));
        QCOMPARE(tensor->pinned_heatmap()->matrix().rows, int64_t{4});
        QCOMPARE(w.residual_view()->plot()->graphCount(), 2); // this run's mean and the pinned run's

        // The lens side by side: this run's, then the pinned run's.
        QSignalSpy lens(&w, &MainWindow::lensShown);
        w.view_tabs()->setCurrentWidget(w.lens_view());
        QVERIFY(lens.wait(30'000));
        QCOMPARE(w.lens_view()->heatmap()->matrix().cols, int64_t{6});
        QVERIFY(!w.lens_view()->compare()->isHidden());
        w.lens_view()->compare()->set_mode(CompareMode::Pinned);
        QVERIFY(lens.wait(30'000));
        QCOMPARE(w.lens_view()->heatmap()->matrix().cols, int64_t{4});

        w.unpin_run();
        QVERIFY(tensor->compare()->isHidden() && attention->compare()->isHidden());
        QVERIFY(tensor->pinned_heatmap()->isHidden() && attention->pinned_heatmap()->isHidden());
        QCOMPARE(tensor->heatmap()->matrix().rows, int64_t{6});
        QCOMPARE(w.residual_view()->plot()->graphCount(), 1);
    }

    // A run whose cache would pass the limit asks first, and each answer does what it says.
    void aLargeCaptureAsksFirst() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        // 12 tokens and up to 10 new: 22 positions. Everything is 40 hook points, 313 KB;
        // the residual stream (11.3 KB) and the patterns (15.5 KB) fit in 20 KB.
        w.set_cache_limit(CacheLimit{20'000, std::nullopt});
        w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99 128 255 256 300 411 500 7 511");
        w.prompt_panel()->max_new_tokens()->setValue(10);
        w.prompt_panel()->greedy()->setChecked(true);
        QSignalSpy started(w.runner(), &ModelRunner::started);
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        const auto ask = [&w] {
            if (w.generate()) return static_cast<QMessageBox*>(nullptr); // started: no question
            for (auto* box : w.findChildren<QMessageBox*>("cacheSizeDialog")) {
                if (box->isVisible()) return box; // answered ones close, and go later
            }
            return static_cast<QMessageBox*>(nullptr);
        };

        // Cancel: nothing runs.
        QMessageBox* box = ask();
        QVERIFY(box);
        QVERIFY2(box->text().contains("313.0 KB"), qPrintable(box->text()));
        QVERIFY2(box->informativeText().contains("(40 hook points over 22 positions), more than the limit of 20.0 KB"),
                 qPrintable(box->informativeText()));
        box->button(QMessageBox::Cancel)->click();
        QCoreApplication::processEvents();
        QCOMPARE(started.size(), 0);

        // The suggested filter: set in the hook panel and captured.
        box = ask();
        QVERIFY(box);
        auto* smaller = box->findChild<QPushButton*>("captureSuggested");
        QVERIFY(smaller);
        QVERIFY2(smaller->text().contains("*hook_resid_post (11.3 KB)"), qPrintable(smaller->text()));
        smaller->click();
        QVERIFY(shown.wait(60'000));
        QCOMPARE(w.hook_panel()->filter_edit()->text(), QString("*hook_resid_post"));
        QVERIFY(w.hook_panel()->capture_toggle()->isChecked());
        QCOMPARE(w.cache()->names(),
                 (std::vector<std::string>{"blocks.0.hook_resid_post", "blocks.1.hook_resid_post"}));
        // That filter fits: the next run starts at once.
        QVERIFY(w.generate());
        QVERIFY(shown.wait(60'000));

        // Edit the filter: nothing runs; the filter box is ready for typing.
        w.hook_panel()->capture_toggle()->setChecked(false);
        started.clear();
        box = ask();
        QVERIFY(box);
        box->findChild<QPushButton*>("editFilter")->click();
        QCoreApplication::processEvents();
        QCOMPARE(started.size(), 0);
        QVERIFY(w.hook_panel()->capture_toggle()->isChecked());

        // Capture anyway: every hook point.
        w.hook_panel()->capture_toggle()->setChecked(false);
        box = ask();
        QVERIFY(box);
        box->findChild<QPushButton*>("captureAnyway")->click();
        QVERIFY(shown.wait(60'000));
        QCOMPARE(w.cache()->size(), std::size_t{40});

        // No limit: no question.
        w.set_cache_limit(std::nullopt);
        QVERIFY(w.generate());
        QVERIFY(shown.wait(60'000));
    }
};

HOOKSCOPE_TEST_MAIN(TestAnalysisViews)

} // namespace tst_analysis_views
#include "tst_analysis_views.moc"
