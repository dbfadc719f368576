// The main window driven as a user would, on real widgets (offscreen): load, generate,
// browse the hook tree, filter it, stop, close mid-generation.

#include "bridge/analysis/head_scores.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/shape_text.h"
#include "bridge/io/export.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "support/token_ids.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/heads_view.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_filter_proxy.h"
#include "ui/hook_panel.h"
#include "ui/hook_tree_model.h"
#include "ui/lens_view.h"
#include "ui/logits_view.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/run_compare.h"
#include "ui/tensor_view.h"
#include "ui/token_view.h"

#include <ATen/ATen.h>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabBar>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QToolButton>
#include <QTreeView>
#include <QtTest>

namespace tst_main_window {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;
namespace fs = std::filesystem;

namespace {} // namespace

class TestMainWindow : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    void generateThenBrowseTheCache() {
        MainWindow w;
        w.show();
        // Usable at 1280x800: the whole layout fits.
        QVERIFY2(w.minimumSizeHint().width() <= 1280 && w.minimumSizeHint().height() <= 800,
                 qPrintable(QString("%1x%2").arg(w.minimumSizeHint().width()).arg(w.minimumSizeHint().height())));
        load(w, kGpt2);
        PromptPanel* prompt = w.prompt_panel();
        QVERIFY(prompt->token_mode()->isChecked()); // no tokenizer: token ids only
        QVERIFY(!prompt->token_mode()->isEnabled());
        prompt->prompt_edit()->setPlainText("0 17 42 99 128 255 256 300 411 500 7 511");
        prompt->max_new_tokens()->setValue(10);
        prompt->greedy()->setChecked(true);

        QSignalSpy shown(&w, &MainWindow::cacheShown);
        QSignalSpy tokens(w.runner(), &ModelRunner::tokenGenerated);
        QTest::mouseClick(prompt->generate_button(), Qt::LeftButton);
        QVERIFY(shown.wait(60'000));
        QCOMPARE(tokens.size(), 10); // streamed one by one

        // Hugging Face's greedy continuation, in the cache and in the token view.
        const auto golden = SafetensorsFile::open(kGpt2 / "golden.safetensors");
        const std::vector<int64_t> expected = test::ids_of(golden->tensor("greedy_tokens"));
        QCOMPARE(w.cache()->tokens(), expected);
        QCOMPARE(w.token_view()->ids(), expected);
        QCOMPARE(w.token_view()->prompt_length(), 12);
        QCOMPARE(w.last_run()->stop_reason, QString("max_new_tokens"));
        QVERIFY(w.token_view()->describe(12).contains("generated"));
        QVERIFY(w.token_view()->describe(0).startsWith("position 0 · id 0"));
        // A generated token's tooltip has its log-probability and the 5 most likely
        // tokens there (greedy: the chosen one first, with the same log-probability).
        const QString chosen = w.token_view()->describe(12);
        const NewToken& first = w.last_run()->generated.front();
        QVERIFY2(chosen.contains(QString("log-probability %1").arg(first.logprob, 0, 'f', 3)), qPrintable(chosen));
        QCOMPARE(chosen.section("most likely: ", 1).split(", ").size(), 5);
        QCOMPARE(first.top.front().first, expected[12]);
        QVERIFY(!w.token_view()->describe(11).contains("log-probability")); // a prompt token

        // Statistics arrive from the worker pool (the spy is waiting before anything
        // below lets the event loop run).
        QSignalSpy stats(w.hook_panel(), &HookPanel::statsReady);

        // At 1280x800 the attention heatmap keeps most of the middle's width.
        w.resize(1280, 800);
        w.view_tabs()->setCurrentWidget(w.attention_view());
        QCoreApplication::processEvents();
        QVERIFY2(w.attention_view()->heatmap()->width() >= 380,
                 qPrintable(QString::number(w.attention_view()->heatmap()->width())));

        // The tree holds exactly the model's hook points, with the run's shapes.
        const auto model = Model::load(kGpt2);
        QAbstractItemModel* tree = w.hook_panel()->tree()->model();
        QStringList names;
        shown_hooks(*tree, {}, names);
        QCOMPARE(names.size(), static_cast<qsizetype>(model->hook_points().size()));
        HookTreeModel* source = w.hook_panel()->tree_model();
        for (const HookInfo& h : model->hook_points()) {
            const QModelIndex i = source->index_of(h.name);
            QVERIFY2(i.isValid(), h.name.c_str());
            QCOMPARE(i.siblingAtColumn(HookTreeModel::Shape).data().toString(),
                     QString::fromStdString(shape_text(concrete_shape(h, 22))));
        }
        QCOMPARE(source->index_of("blocks.1.attn.hook_pattern").siblingAtColumn(HookTreeModel::Size).data().toString(),
                 byte_text(4 * 22 * 22 * 4));

        // The statistics' numbers are the tensor's own.
        QVERIFY(stats.count() > 0 || stats.wait(30'000));
        const at::Tensor pattern = (*w.cache())["blocks.1.attn.hook_pattern"];
        const QModelIndex pattern_row = source->index_of("blocks.1.attn.hook_pattern");
        QCOMPARE(pattern_row.siblingAtColumn(HookTreeModel::Max).data().toString(),
                 stat_text(pattern.max().item<double>()));
        QCOMPARE(pattern_row.siblingAtColumn(HookTreeModel::Mean).data().toString(),
                 stat_text(pattern.mean().item<double>()));
        // Their tooltips give them in full.
        QCOMPARE(pattern_row.siblingAtColumn(HookTreeModel::Mean).data(Qt::ToolTipRole).toString(),
                 QString::number(pattern.mean().item<double>(), 'g', 8));

        // At the default window size every column of the hook tree, header and widest
        // cell, fits beside the others in the dock with every group open, and the
        // middle still shows all its tabs.
        QTreeView* hook_tree = w.hook_panel()->tree();
        hook_tree->expandAll();
        QCoreApplication::processEvents();
        int needed = 0;
        QStringList widths;
        for (int c = 0; c < HookTreeModel::ColumnCount; ++c) {
            // QTreeView's own override (indentation included) is protected.
            const int cells = static_cast<QAbstractItemView*>(hook_tree)->sizeHintForColumn(c);
            const int column = std::max(cells, hook_tree->header()->sectionSizeHint(c));
            widths << QString("%1 needs %2, has %3").arg(c).arg(column).arg(hook_tree->header()->sectionSize(c));
            QVERIFY2(hook_tree->header()->sectionSize(c) >= column, qPrintable(widths.join(", ")));
            needed += column;
        }
        QVERIFY2(needed <= hook_tree->viewport()->width(),
                 qPrintable(QString("%1 > %2").arg(needed).arg(hook_tree->viewport()->width())));
        QVERIFY(!hook_tree->horizontalScrollBar()->isVisible());
        QVERIFY2(w.view_tabs()->tabBar()->sizeHint().width() <= w.view_tabs()->width(),
                 qPrintable(QString::number(w.view_tabs()->width())));

        // Choosing blocks.1.attn.hook_pattern in the tree opens it in the attention view;
        // head 2 puts exactly that slice into the heatmap.
        QTreeView* view = w.hook_panel()->tree();
        view->setCurrentIndex(w.hook_panel()->proxy()->mapFromSource(pattern_row));
        QCOMPARE(w.view_tabs()->currentWidget(), static_cast<QWidget*>(w.attention_view()));
        QCOMPARE(w.attention_view()->layer(), int64_t(1));
        w.attention_view()->show_head(1, 2);
        const Matrix shown_matrix = w.attention_view()->heatmap()->matrix();
        QCOMPARE(shown_matrix.rows, int64_t(22));
        const at::Tensor slice = pattern[0][2].to(at::kDouble).contiguous();
        QVERIFY(std::equal(shown_matrix.values.begin(), shown_matrix.values.end(), slice.data_ptr<double>()));
        QCOMPARE(w.attention_view()->thumbnails()->count(), 4);
        QCOMPARE(w.attention_view()->heatmap()->describe(5, 3),
                 "[255] (5) → [99] (3): " + QString::number(pattern[0][2][5][3].item<double>(), 'g', 4));
        // Stepping heads from the keyboard.
        w.attention_view()->heatmap()->setFocus();
        QTest::keyClick(w.attention_view()->heatmap(), Qt::Key_BracketRight);
        QCOMPARE(w.attention_view()->head(), int64_t(3));

        // A residual hook opens in the tensor view with its per-position norms.
        view->setCurrentIndex(w.hook_panel()->proxy()->mapFromSource(source->index_of("blocks.0.hook_resid_post")));
        QCOMPARE(w.view_tabs()->currentWidget(), static_cast<QWidget*>(w.tensor_view()));
        QCOMPARE(w.tensor_view()->heatmap()->matrix().cols, int64_t(64));
        QCOMPARE(w.residual_view()->norms().stages.size(), std::size_t(3));

        // Export: the selected hook points, read back equal, with the run's metadata.
        QTemporaryDir out;
        const QString file = out.filePath("export.safetensors");
        QSignalSpy exported(&w, &MainWindow::exportFinished);
        w.export_to(file, {"blocks.1.attn.hook_pattern", "hook_embed"});
        QVERIFY(exported.wait(30'000));
        QVERIFY2(exported.first().at(0).toBool(), qPrintable(exported.first().at(1).toString()));
        const auto back = SafetensorsFile::open(file.toStdString());
        QVERIFY(back->tensor("blocks.1.attn.hook_pattern").equal(pattern));
        QVERIFY(back->tensor("hook_embed").equal((*w.cache())["hook_embed"]));
        QCOMPARE(back->tensors().size(), std::size_t(2));
        QCOMPARE(back->metadata().at("prompt_length"), "12");
        QCOMPARE(back->metadata().at("compute_dtype"), "float32");
        QVERIFY(back->metadata().at("generation").find("\"do_sample\":false") != std::string::npos);
        // A failed export names the problem and leaves nothing behind.
        w.export_to(out.filePath("missing-folder/x.safetensors"), {"hook_embed"});
        QVERIFY(exported.wait(30'000));
        QVERIFY(!exported.last().at(0).toBool());
        QVERIFY(!QFile::exists(out.filePath("missing-folder/x.safetensors")));
        delete w.findChild<QMessageBox*>("errorDialog");

        // Typing a filter leaves exactly the matching rows.
        QLineEdit* filter = w.hook_panel()->filter_edit();
        filter->clear();
        QTest::keyClicks(filter, "blocks.*.attn.hook_pattern");
        names.clear();
        shown_hooks(*tree, {}, names);
        QCOMPARE(names, (QStringList{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"}));
        QVERIFY(w.hook_panel()->filter_error()->isHidden());

        // An invalid regex shows an inline error and keeps the last valid filter.
        filter->setText("/resid_(pre/");
        QVERIFY(!w.hook_panel()->filter_error()->isHidden());
        QVERIFY2(w.hook_panel()->filter_error()->text().contains("resid_(pre"),
                 qPrintable(w.hook_panel()->filter_error()->text()));
        names.clear();
        shown_hooks(*tree, {}, names);
        QCOMPARE(names.size(), 2);
        QVERIFY(w.findChildren<QMessageBox*>().isEmpty()); // inline, not a dialog
        filter->setText("/resid_pre$/");
        QVERIFY(w.hook_panel()->filter_error()->isHidden());
        names.clear();
        shown_hooks(*tree, {}, names);
        QCOMPARE(names, (QStringList{"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"}));

        // "Capture only matching": the next run records just those hook points.
        w.hook_panel()->capture_toggle()->setChecked(true);
        QTest::mouseClick(prompt->run_button(), Qt::LeftButton);
        QVERIFY(shown.wait(60'000));
        QCOMPARE(w.cache()->names(), (std::vector<std::string>{"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"}));
        QCOMPARE(w.cache()->tokens().size(), std::size_t(12)); // the prompt alone
        QCOMPARE(w.last_run()->stop_reason, QString("run"));
    }

    // A saved session reopens with the same views, without running the model; its
    // model loads beneath them for further runs.
    void sessionsRestoreTheViews() {
        QTemporaryDir dir;
        const QString file = dir.filePath("run.hookscope.safetensors");
        std::shared_ptr<const ActivationCache> original;
        {
            MainWindow w;
            load(w, kGpt2);
            w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99");
            w.prompt_panel()->max_new_tokens()->setValue(4);
            w.prompt_panel()->greedy()->setChecked(true);
            QSignalSpy shown(&w, &MainWindow::cacheShown);
            QVERIFY(w.generate());
            QVERIFY(shown.wait(60'000));
            original = w.cache();
            QSignalSpy saved(&w, &MainWindow::sessionSaved);
            w.save_session_to(file);
            QVERIFY(saved.wait(30'000));
            QVERIFY2(saved.first().at(0).toBool(), qPrintable(saved.first().at(1).toString()));
        }
        MainWindow w;
        w.show();
        w.prompt_panel()->max_new_tokens()->setValue(20);
        w.prompt_panel()->greedy()->setChecked(false);
        w.prompt_panel()->seed()->setText("5");
        QSignalSpy opened(&w, &MainWindow::sessionOpened);
        QSignalSpy loaded(w.runner(), &ModelRunner::modelLoaded);
        w.open_session(file);
        QVERIFY(opened.wait(30'000));
        QCOMPARE(w.cache()->tokens(), original->tokens());
        QCOMPARE(w.cache()->names(), original->names());
        for (const auto& [name, tensor] : original->entries())
            QVERIFY2(at::equal((*w.cache())[name], tensor), name.c_str());
        QVERIFY(at::equal(w.cache()->logits(), original->logits()));
        QCOMPARE(w.token_view()->ids(), original->tokens());
        QCOMPARE(w.token_view()->prompt_length(), 4);
        QCOMPARE(w.prompt_panel()->prompt_edit()->toPlainText(), QString("0 17 42 99"));
        QCOMPARE(w.last_run()->stop_reason, QString("max_new_tokens"));
        // The generation settings come back with the run.
        QCOMPARE(w.prompt_panel()->max_new_tokens()->value(), 4);
        QVERIFY(w.prompt_panel()->greedy()->isChecked());
        QCOMPARE(w.prompt_panel()->seed()->text(), QString());
        w.attention_view()->show_head(1, 3);
        const at::Tensor slice = (*original)["blocks.1.attn.hook_pattern"][0][3].to(at::kDouble).contiguous();
        const Matrix m = w.attention_view()->heatmap()->matrix();
        QVERIFY(std::equal(m.values.begin(), m.values.end(), slice.data_ptr<double>()));
        QVERIFY(w.attention_view()->heatmap()->describe(1, 0).startsWith("[17] (1) → [0] (0)"));
        // The model folder is still there: it loads, and the views stay.
        QVERIFY(loaded.wait(60'000));
        QCOMPARE(w.cache()->tokens(), original->tokens());
        QCOMPARE(w.token_view()->ids().size(), original->tokens().size());

        // A file that is not a session: a dialog that says so, nothing changes.
        const QString plain = dir.filePath("plain.txt");
        QFile(plain).open(QIODevice::WriteOnly);
        QSignalSpy errors(&w, &MainWindow::errorShown);
        w.open_session(plain);
        QVERIFY(errors.wait(30'000));
        QVERIFY2(errors.first().at(1).toString().contains("plain.txt"), qPrintable(errors.first().at(1).toString()));
        QCOMPARE(w.cache()->tokens(), original->tokens());
    }

    void headScoresOpenHeads() {
        MainWindow w;
        w.resize(1280, 800);
        w.show();
        QApplication::setActiveWindow(&w);
        QVERIFY(QTest::qWaitForWindowActive(&w));
        load(w, kGpt2);
        w.view_tabs()->setCurrentWidget(w.heads_view());
        QSignalSpy ready(w.runner(), &ModelRunner::headScoresReady);
        w.heads_view()->compute_button()->setFocus();
        QTest::mouseClick(w.heads_view()->compute_button(), Qt::LeftButton);
        // The button turns off while the scores compute; the keyboard stays in the view
        // (not in the filter box, where the next key would replace the filter).
        QWidget* focus = QApplication::focusWidget();
        QVERIFY(focus != nullptr && focus != w.hook_panel()->filter_edit());
        QVERIFY2(focus == w.heads_view() || w.heads_view()->isAncestorOf(focus), focus->metaObject()->className());
        QVERIFY(ready.wait(60'000));
        const HeadScores expected = head_scores(*Model::load(kGpt2));
        const Matrix m = w.heads_view()->heatmap()->matrix(); // induction by default
        QCOMPARE(m.rows, int64_t(2));
        QCOMPARE(m.cols, int64_t(4));
        for (int64_t l = 0; l < 2; ++l) {
            for (int64_t h = 0; h < 4; ++h)
                QCOMPARE(m.at(l, h), expected.induction[static_cast<std::size_t>(l)][static_cast<std::size_t>(h)]);
        }
        w.heads_view()->set_score(HeadsView::PreviousToken);
        QCOMPARE(w.heads_view()->heatmap()->matrix().at(1, 3), expected.previous_token[1][3]);

        HeatmapPlot* plot = w.heads_view()->heatmap();
        plot->replot();
        const QPoint cell(static_cast<int>(plot->xAxis->coordToPixel(3)),
                          static_cast<int>(plot->yAxis->coordToPixel(1)));
        QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier, cell);
        QCOMPARE(w.view_tabs()->currentWidget(), static_cast<QWidget*>(w.attention_view()));
        QCOMPARE(w.attention_view()->layer(), int64_t(1));
        QCOMPARE(w.attention_view()->head(), int64_t(3));
        // The opened head takes the keys at once: ] is the next head (wrapping), and the
        // filter box keeps its text.
        const QString filter = w.hook_panel()->filter_edit()->text();
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_BracketRight);
        QCOMPARE(w.attention_view()->head(), int64_t(0));
        QCOMPARE(w.hook_panel()->filter_edit()->text(), filter);
    }

    // A closed dock comes back (View menu; Ctrl+F for the hook panel), and Help lists
    // every shortcut and says which build this is.
    void docksComeBackAndHelpListsTheKeys() {
        MainWindow w;
        w.show();
        // Before any run the plots are empty, not blocks of colour.
        for (HeatmapPlot* plot : {w.attention_view()->heatmap(), w.heads_view()->heatmap(),
                                  w.attribution_view()->heatmap(), w.tensor_view()->heatmap()})
            QVERIFY(!plot->color_map()->visible());
        auto* hooks = w.findChild<QDockWidget*>("hookDock");
        auto* prompt = w.findChild<QDockWidget*>("promptDock");
        hooks->close();
        QVERIFY(!hooks->isVisible());
        w.focus_filter();
        QVERIFY(hooks->isVisible());
        prompt->close();
        QMenu* view = nullptr;
        for (QAction* a : w.menuBar()->actions()) {
            if (a->text() == "&View") view = a->menu();
        }
        QVERIFY(view != nullptr);
        QVERIFY(view->actions().contains(prompt->toggleViewAction()));
        prompt->toggleViewAction()->trigger();
        QVERIFY(prompt->isVisible());

        w.findChild<QAction*>("shortcutsAction")->trigger();
        auto* keys = w.findChild<QMessageBox*>("shortcutsDialog");
        QVERIFY(keys != nullptr);
        for (const char* line : {"]\tnext head (attention view)", "{\tprevious layer (attention view)", "\tGenerate",
                                 "\tFilter hook points", "\tPin this run for comparison"})
            QVERIFY2(keys->informativeText().contains(line), line);
        delete keys;
        w.set_about_text("hookscope 9.9 (git abc)");
        w.findChild<QAction*>("aboutAction")->trigger();
        auto* about = w.findChild<QMessageBox*>("aboutDialog");
        QVERIFY(about != nullptr);
        QCOMPARE(about->informativeText(), QString("hookscope 9.9 (git abc)"));
        delete about;
    }

    // What a run leaves behind goes with it: the run summary stays in the status bar
    // while other work reports, the attribution's text goes with its plot, and a run
    // pinned under other weights is dropped when they change.
    void newRunsAndModelsLeaveNothingStale() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        w.prompt_panel()->token_mode()->setChecked(true);
        w.prompt_panel()->prompt_edit()->setPlainText("0 17 42 99");
        w.prompt_panel()->max_new_tokens()->setValue(3);
        w.prompt_panel()->greedy()->setChecked(true);
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        QVERIFY(w.generate());
        QVERIFY(shown.wait(60'000));
        auto* summary = w.findChild<QLabel*>("runSummary");
        QVERIFY2(summary->text().contains("stop: max_new_tokens"), qPrintable(summary->text()));
        QVERIFY2(summary->text().contains("tokens/s"), qPrintable(summary->text()));
        QVERIFY(w.findChild<QLabel*>("speedText")->text().isEmpty()); // the rate once, not twice

        w.view_tabs()->setCurrentWidget(w.attribution_view());
        QSignalSpy attributed(&w, &MainWindow::attributionShown);
        QTest::mouseClick(w.attribution_view()->compute_button(), Qt::LeftButton);
        QVERIFY(attributed.wait(60'000));
        QVERIFY(w.attribution_view()->summary()->text().contains("at position"));
        QSignalSpy scores(w.runner(), &ModelRunner::headScoresReady);
        w.view_tabs()->setCurrentWidget(w.heads_view());
        QTest::mouseClick(w.heads_view()->compute_button(), Qt::LeftButton);
        QVERIFY(scores.wait(60'000));
        QVERIFY2(summary->text().contains("stop: max_new_tokens"), qPrintable(summary->text()));

        w.pin_run();
        QVERIFY(w.pinned() != nullptr);
        QVERIFY(w.run_prompt());
        QVERIFY(shown.wait(60'000));
        QVERIFY2(!w.attribution_view()->summary()->text().contains("at position"),
                 qPrintable(w.attribution_view()->summary()->text()));

        load(w, kGpt2); // the same weights again: the pinned run still compares
        QVERIFY(w.pinned() != nullptr);
        QVERIFY(summary->text().isEmpty());
        load(w, fs::path(HOOKSCOPE_FIXTURES) / "golden" / "pythia-tiny");
        QVERIFY(w.pinned() == nullptr);
        QVERIFY(!w.lens_view()->findChild<QLabel*>("lensNote")->text().contains("positions"));
    }

    // A folder dropped on the window opens, and joins the recent models.
    void droppedFoldersOpen() {
        MainWindow w;
        w.show();
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(QString::fromStdString(kGpt2.string()))});
        QSignalSpy loaded(w.runner(), &ModelRunner::modelLoaded);
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &drop);
        QVERIFY(loaded.wait(60'000));
        QCOMPARE(w.runner()->summary()->layers, int64_t(2));
        QCOMPARE(QSettings().value("models/recent").toStringList().value(0), QString::fromStdString(kGpt2.string()));
    }

    // Opening a second model before the first has loaded: the later one wins, on the
    // worker and in the window, and the earlier one's views are cleared.
    // At the default size every placeholder, in every tab and dock, is drawn whole: a
    // line edit elides its placeholder to its text rectangle, and a cut hint hides the
    // part that says what to type. The logits' search is shown by showing the logits.
    void placeholdersFitAtTheDefaultSize() {
        MainWindow w;
        w.resize(1280, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2}, "");
        cache->add("unembed.hook_out", at::zeros({1, 2, 4}));
        w.tensor_view()->set_cache(cache, {"a", "b"}, {});
        w.tensor_view()->show_hook("unembed.hook_out");
        QStringList checked, cut;
        // What QLineEdit::paintEvent elides its placeholder to: the style's contents
        // rectangle less the text margins, each visible side button, and 2 px a side.
        const auto text_width = [](QLineEdit* edit) {
            QStyleOptionFrame panel;
            panel.initFrom(edit);
            panel.rect = edit->contentsRect();
            panel.lineWidth =
                edit->hasFrame() ? edit->style()->pixelMetric(QStyle::PM_DefaultFrameWidth, &panel, edit) : 0;
            panel.state |= QStyle::State_Sunken;
            const QRect r = edit->style()
                                ->subElementRect(QStyle::SE_LineEditContents, &panel, edit)
                                .marginsRemoved(edit->textMargins());
            const int button = edit->style()->pixelMetric(QStyle::PM_LineEditIconSize, nullptr, edit) + 6 +
                               edit->style()->pixelMetric(QStyle::PM_LineEditIconMargin, nullptr, edit);
            int buttons = 0;
            for (QToolButton* b : edit->findChildren<QToolButton*>(Qt::FindDirectChildrenOnly))
                buttons += b->isVisibleTo(edit) ? 1 : 0;
            return r.width() - buttons * button - 4;
        };
        const auto check = [&](const QString& where) {
            QCoreApplication::processEvents();
            for (QLineEdit* edit : w.findChildren<QLineEdit*>()) {
                if (!edit->isVisible() || edit->placeholderText().isEmpty()) continue;
                if (qobject_cast<QAbstractSpinBox*>(edit->parentWidget())) continue; // spin boxes have none
                const int needed = edit->fontMetrics().horizontalAdvance(edit->placeholderText());
                const int room = text_width(edit);
                checked << edit->placeholderText();
                if (needed > room)
                    cut << QString("%1: \"%2\" needs %3 px, has %4")
                               .arg(where, edit->placeholderText())
                               .arg(needed)
                               .arg(room);
            }
            for (QComboBox* combo : w.findChildren<QComboBox*>()) {
                if (!combo->isVisible() || combo->placeholderText().isEmpty() || combo->currentIndex() >= 0) continue;
                QStyleOptionComboBox option;
                option.initFrom(combo);
                const QRect field =
                    combo->style()->subControlRect(QStyle::CC_ComboBox, &option, QStyle::SC_ComboBoxEditField, combo);
                checked << combo->placeholderText();
                if (combo->fontMetrics().horizontalAdvance(combo->placeholderText()) > field.width())
                    cut << QString("%1: \"%2\"").arg(where, combo->placeholderText());
            }
        };
        QTabWidget* tabs = w.view_tabs();
        for (int i = 0; i < tabs->count(); ++i) {
            tabs->setCurrentIndex(i);
            check(tabs->tabText(i));
        }
        QVERIFY2(cut.isEmpty(), qPrintable(cut.join("; ")));
        // Every placeholder was looked at, the docks' and every tab's.
        for (const QString& text :
             {w.tensor_view()->logits_view()->search()->placeholderText(),
              w.attribution_view()->findChild<QLineEdit*>("attributionTarget")->placeholderText(),
              w.attribution_view()->findChild<QLineEdit*>("attributionContrast")->placeholderText(),
              w.hook_panel()->findChild<QLineEdit*>()->placeholderText()})
            QVERIFY2(checked.contains(text), qPrintable(text));
    }

    // The number of tokens the logits show per position outlives the window.
    void theLogitsTopKIsRemembered() {
        {
            MainWindow w;
            w.show();
            w.tensor_view()->logits_view()->top_k()->setValue(17);
            w.close();
        }
        MainWindow w;
        QCOMPARE(w.tensor_view()->logits_view()->top_k()->value(), 17);
    }
};

HOOKSCOPE_TEST_MAIN(TestMainWindow)

} // namespace tst_main_window
#include "tst_main_window.moc"
