// The views and plots: axis labels, the attention view under grouped-query attention,
// and the heatmap widget's cells, tooltips and saved files.

#include "bridge/analysis/view_data.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/test_main.h"
#include "ui/attention_view.h"
#include "ui/heatmap_plot.h"
#include "ui/lens_view.h"
#include "ui/logits_view.h"
#include "ui/plot_axes.h"
#include "ui/residual_view.h"
#include "ui/run_compare.h"
#include "ui/tensor_view.h"
#include "ui/token_view.h"

#include <ATen/ATen.h>

#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMimeData>
#include <QSettings>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QTextLayout>
#include <QtTest>

#include <cmath>

namespace tst_views {

using namespace hookscope;
using namespace hookscope::ui;
namespace fs = std::filesystem;

namespace {} // namespace

class TestViews : public QObject {
    Q_OBJECT

private slots:
    void axisLabelsAreThinnedEvenly() {
        QCOMPARE(thinned_ticks(5, 40), (std::vector<int64_t>{0, 1, 2, 3, 4}));
        const auto ticks = thinned_ticks(1024, 40);
        QVERIFY(ticks.size() <= 40 && ticks.size() >= 30);
        QCOMPARE(ticks.front(), int64_t(0));
        QCOMPARE(ticks[1], int64_t(26));
    }

    // At 50 positions every lens cell still names its token: cells keep a minimum width
    // (the grid scrolls), and long tokens are cut with an ellipsis.
    void everyLensCellIsLabelled() {
        constexpr int64_t positions = 50, k = 5;
        std::vector<LensLayer> layers;
        for (const char* hook : {"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"}) {
            LensLayer layer{hook, positions, k, {}, {}, {}, {}};
            for (int64_t i = 0; i < positions * k; ++i) {
                layer.top_ids.push_back(i % 7);
                layer.top_probs.push_back(0.5f / static_cast<float>(1 + i % k));
            }
            layers.push_back(std::move(layer));
        }
        const QStringList words{"\u2423the",     "\u2423beginning", ",", "\u2423God", "\u2423created",
                                "<|endoftext|>", "\u2423firmament"};
        LensView view;
        view.resize(1280, 800);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        std::vector<int64_t> tokens(positions, 1);
        view.set_lens(tokens, layers, [&](int64_t id) { return words[static_cast<qsizetype>(id)]; });
        QTRY_COMPARE(view.heatmap()->shown_cell_texts(), static_cast<int>(3 * positions));
        QVERIFY(view.heatmap()->width() >= positions * 48);
    }

    // Side by side, this run and the pinned one share the width: neither is squeezed to
    // a sliver when the pinned one appears.
    void sideBySideSharesTheWidth() {
        const auto model = Model::load(fs::path(HOOKSCOPE_FIXTURES) / "golden" / "llama-tiny");
        const auto here = std::make_shared<const ActivationCache>(model->run_with_cache({1, 17, 42, 99, 5}));
        const auto there = std::make_shared<const ActivationCache>(model->run_with_cache({1, 18, 43, 98, 6}));
        const QStringList labels{"a", "b", "c", "d", "e"};
        for (const int size : {1280, 1920}) {
            AttentionView view;
            view.resize(size, 800);
            view.show();
            QVERIFY(QTest::qWaitForWindowExposed(&view));
            view.set_cache(here, labels, model->config().n_layers, model->config().n_heads, model->config().n_kv_heads);
            view.set_pinned(there, labels);
            view.compare()->set_mode(CompareMode::SideBySide);
            QCoreApplication::processEvents();
            QVERIFY(view.pinned_heatmap()->isVisible());
            const int mine = view.heatmap()->width(), pinned = view.pinned_heatmap()->width();
            QVERIFY2(std::abs(mine - pinned) <= 2 && mine > size / 4,
                     qPrintable(QString("%1 and %2").arg(mine).arg(pinned)));
        }
    }

    // Under grouped-query attention the view names the kv head a query head reads;
    // scores show the masked future as masked.
    void attentionViewOnGroupedQueryAttention() {
        const auto model = Model::load(fs::path(HOOKSCOPE_FIXTURES) / "golden" / "llama-tiny");
        const ModelConfig& c = model->config();
        QVERIFY(c.n_kv_heads < c.n_heads);
        const auto cache = std::make_shared<const ActivationCache>(model->run_with_cache({1, 17, 42, 99, 5}));
        AttentionView view;
        view.set_cache(cache, {"a", "b", "c", "d", "e"}, c.n_layers, c.n_heads, c.n_kv_heads);
        const int64_t group = c.n_heads / c.n_kv_heads;
        view.show_head(1, c.n_heads - 1);
        QCOMPARE(view.kv_label()->text(), QString("reads kv head %1").arg((c.n_heads - 1) / group));
        QCOMPARE(view.thumbnails()->count(), static_cast<int>(c.n_heads));
        view.set_source("hook_attn_scores");
        QCOMPARE(view.hook_name(), QString("blocks.1.attn.hook_attn_scores"));
        QVERIFY(std::isnan(view.heatmap()->matrix().at(0, 4)));
        QCOMPARE(view.heatmap()->describe(0, 4), QString("a (0) → e (4): masked"));
        // Clicking a thumbnail opens that head.
        view.thumbnails()->setCurrentRow(0);
        QCOMPARE(view.head(), int64_t(0));
    }

    // Two runs that cannot be compared: the title says why and no plot of an earlier
    // tensor stays under it.
    void tensorViewShowsNothingItCannotCompare() {
        auto current = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2}, "");
        current->add("blocks.0.hook_resid_pre", at::ones({1, 2, 4}));
        auto pinned = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2}, "");
        pinned->add("blocks.0.hook_resid_pre", at::ones({1, 2, 8}));
        TensorView view;
        view.set_cache(current, {"a", "b"}, {});
        view.set_pinned(pinned, {"a", "b"});
        view.show_hook("blocks.0.hook_resid_pre");
        QCOMPARE(view.heatmap()->matrix().rows, int64_t(2));
        view.compare()->set_mode(CompareMode::Difference);
        QCOMPARE(view.heatmap()->matrix().rows, int64_t(0));
        QVERIFY(view.findChild<QLabel*>("tensorTitle")->text().contains("cannot be compared"));
    }

    // A tensor of zeros draws its cells in a colour that shows on the white plot, over a
    // range of real width, and the title says what the one colour stands for.
    void tensorViewDrawsAUniformTensor() {
        auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2, 3}, "");
        cache->add("blocks.0.hook_resid_pre", at::zeros({1, 3, 4}));
        cache->add("blocks.0.hook_mlp_out", at::full({1, 3, 4}, -2.5));
        TensorView view;
        view.resize(800, 500);
        view.set_cache(cache, {"a", "b", "c"}, {});
        const auto* title = view.findChild<QLabel*>("tensorTitle");
        for (const auto& [hook, value] : {std::pair<QString, double>{"blocks.0.hook_resid_pre", 0.0},
                                          std::pair<QString, double>{"blocks.0.hook_mlp_out", -2.5}}) {
            view.show_hook(hook);
            QVERIFY2(title->text().endsWith(QString("all values equal %1").arg(value)), qPrintable(title->text()));
            const QCPRange range = view.heatmap()->color_map()->dataRange();
            QVERIFY(range.lower < value && range.upper > value);
            QCOMPARE(range.center(), value);
            QCPColorGradient gradient = view.heatmap()->color_map()->gradient();
            const QColor colour = QColor::fromRgb(gradient.color(value, range));
            QVERIFY2(colour.lightness() < 200, qPrintable(colour.name())); // not the white of "no data"
        }
        // A tensor of varied values says nothing of the kind.
        cache->add("blocks.0.hook_attn_out", at::arange(12, at::kFloat).view({1, 3, 4}));
        view.show_hook("blocks.0.hook_attn_out");
        QVERIFY2(!title->text().contains("all values equal"), qPrintable(title->text()));
    }

    // Lines wrap between tokens, never inside one; hovering still finds each token, and
    // copied text has none of the invisible characters that steer the breaks.
    void tokenStripWrapsBetweenTokens() {
        const QStringList labels{"<|endoftext|>", "\u2423for",         "\u2423the",       "-",
                                 "a|b|c",         "\u2423Gen\u00e8se", "\u2423\U0001F600"};
        TokenView view;
        view.set_labeler([&](int64_t id) { return labels[static_cast<qsizetype>(id)]; });
        for (int i = 0; i < 60; ++i)
            view.append(i % labels.size(), i >= 30);
        view.resize(140, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        int tokens = 0, lines = 0;
        for (QTextBlock block = view.document()->begin(); block.isValid(); block = block.next()) {
            QTextLayout* layout = block.layout();
            lines += layout->lineCount();
            for (auto it = block.begin(); !it.atEnd(); ++it) {
                const QTextFragment f = it.fragment();
                if (!f.charFormat().hasProperty(QTextFormat::UserProperty + 1)) continue;
                ++tokens;
                const int first = f.position() - block.position(), last = first + f.length() - 1;
                QCOMPARE(layout->lineForTextPosition(first).lineNumber(),
                         layout->lineForTextPosition(last).lineNumber());
            }
        }
        QCOMPARE(tokens, 60);
        QVERIFY(lines > 5); // it did wrap
        view.selectAll();
        const std::unique_ptr<QMimeData> copied(view.createMimeDataFromSelection());
        QVERIFY(!copied->text().contains(QChar(0x200B)) && !copied->text().contains(QChar(0x2060)));
        QVERIFY(copied->text().startsWith("<|endoftext|>\u2423for\u2423the-a|b|c"));
    }

    // Axis labels thin out to what the plot's width has room for: at 100 positions a
    // narrow heatmap shows fewer key labels than a wide one, and none overlap.
    void heatmapLabelsFitTheWidth() {
        Matrix m{100, 100, std::vector<double>(100 * 100, 0.5)};
        QStringList labels;
        for (int i = 0; i < 100; ++i)
            labels << QString("t%1").arg(i);
        const auto key_ticks = [&](int width) {
            HeatmapPlot plot;
            plot.resize(width, 400);
            plot.show();
            if (!QTest::qWaitForWindowExposed(&plot)) return std::make_pair(0, false);
            plot.set_matrix(m, {0, 1}, labels, labels);
            plot.replot();
            plot.replot(); // the first layout measured the margins; the labels follow
            const auto ticker = plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>();
            const int spacing = QFontMetrics(plot.xAxis->tickLabelFont()).height() * 4 / 3;
            const auto ticks = static_cast<int>(ticker->ticks().size());
            return std::make_pair(ticks, ticks * spacing <= plot.axisRect()->width() + spacing);
        };
        const auto narrow = key_ticks(400), wide = key_ticks(1600);
        QVERIFY(narrow.second && wide.second);
        QVERIFY2(narrow.first < wide.first, qPrintable(QString("%1 vs %2").arg(narrow.first).arg(wide.first)));
    }

    // The residual norms' legend sits under the plot, not over its lines, and the
    // highest point is drawn whole, in either scale.
    void residualLegendAndEndPointsStayClear() {
        const auto model = Model::load(fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny");
        const auto cache = std::make_shared<const ActivationCache>(model->run_with_cache({0, 17, 42, 99, 128}));
        ResidualView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.set_cache(cache, {"a", "b", "c", "d", "e"}, 2);
        for (const bool log : {false, true}) {
            view.set_log_scale(log);
            QCustomPlot* plot = view.plot();
            plot->replot();
            QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
            double highest = 0;
            for (int g = 0; g < plot->graphCount(); ++g) {
                for (auto it = plot->graph(g)->data()->begin(); it != plot->graph(g)->data()->end(); ++it)
                    highest = std::max(highest, it->value);
            }
            const double top = plot->yAxis->coordToPixel(highest), edge = plot->axisRect()->top();
            QVERIFY2(top - edge >= 5, qPrintable(QString("%1 px below the top").arg(top - edge)));
        }
        // Narrow, with positions beside the mean: the legend's entries wrap onto more
        // rows instead of running off the plot's right edge.
        view.resize(480, 500);
        view.select_positions({0, 2, 4});
        QCustomPlot* plot = view.plot();
        plot->replot();
        QCoreApplication::processEvents();
        QCOMPARE(plot->legend->itemCount(), 4);
        QVERIFY(plot->legend->rowCount() > 1);
        for (int i = 0; i < plot->legend->itemCount(); ++i) {
            const QRect item = plot->legend->item(i)->outerRect();
            QVERIFY2(plot->viewport().contains(item), qPrintable(plot->graph(i)->name()));
        }
    }

    // The logits show k tokens per position, k chosen and remembered; the search says
    // where any token stands at the selected position, or that there is no such token.
    void logitsShowTheChosenNumberOfTokensAndFindAnyToken() {
        // Position 0 prefers low ids, positions 1 and 2 high ones.
        const at::Tensor logits =
            at::tensor(std::vector<float>{5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}).reshape({1, 3, 6});
        auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2, 3}, "");
        cache->add("unembed.hook_out", logits);
        TensorView view;
        view.set_cache(cache, {"a", "b", "c"}, {});
        view.show_hook("unembed.hook_out");
        LogitsView* lv = view.logits_view();
        QTableWidget* table = lv->table();
        QCOMPARE(table->rowCount(), 3);
        QCOMPARE(table->columnCount(), 5); // the default
        for (const int k : {3, 1, 6}) {
            lv->top_k()->setValue(k);
            QCOMPARE(table->columnCount(), k);
            for (int row = 0; row < 3; ++row) {
                QVERIFY(table->item(row, k - 1) != nullptr);
            }
        }
        QVERIFY(table->item(0, 0)->text().startsWith("0  ")); // most likely at position 0: id 0
        lv->top_k()->setValue(50);                            // more than the vocabulary holds: all of it
        QCOMPARE(table->columnCount(), 6);

        // The search looks at the last position first.
        QCOMPARE(lv->position(), int64_t(2));
        QVERIFY(lv->search_result()->isHidden());
        lv->search()->setText("4");
        const double sum = [] {
            double s = 0;
            for (int i = 0; i <= 5; ++i)
                s += std::exp(double(i));
            return s;
        }();
        QVERIFY2(lv->search_result()->text().contains(
                     QString("rank 2 of 6, probability %1").arg(std::exp(4.0) / sum, 0, 'g', 4)),
                 qPrintable(lv->search_result()->text()));
        lv->select_position(0);
        QVERIFY2(lv->search_result()->text().contains(
                     QString("at position 0 a: rank 5 of 6, probability %1").arg(std::exp(1.0) / sum, 0, 'g', 4)),
                 qPrintable(lv->search_result()->text()));
        // Changing k keeps the position.
        lv->top_k()->setValue(2);
        QCOMPARE(lv->position(), int64_t(0));
        // No such token: an id past the vocabulary, or text without a tokenizer.
        lv->search()->setText("9");
        QVERIFY2(lv->search_result()->text().startsWith("No such token: token id 9 is outside"),
                 qPrintable(lv->search_result()->text()));
        lv->search()->setText("the");
        QVERIFY2(lv->search_result()->text().contains("no tokenizer"), qPrintable(lv->search_result()->text()));

        // A new run: its last position, and the search answered for it.
        auto next = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2}, "");
        next->add("unembed.hook_out", logits.slice(1, 0, 2).contiguous());
        lv->search()->setText("5");
        view.set_cache(next, {"x", "y"}, {});
        QCOMPARE(table->rowCount(), 2);
        QCOMPARE(lv->position(), int64_t(1));
        QVERIFY2(lv->search_result()->text().contains("at position 1 y: rank 1 of 6"),
                 qPrintable(lv->search_result()->text()));

        // k is remembered.
        QTemporaryDir dir;
        {
            QSettings settings(dir.filePath("s.ini"), QSettings::IniFormat);
            lv->top_k()->setValue(12);
            view.save(settings);
        }
        QSettings settings(dir.filePath("s.ini"), QSettings::IniFormat);
        TensorView again;
        again.restore(settings);
        QCOMPARE(again.logits_view()->top_k()->value(), 12);
    }

    // A row is named by its position and token, or by its position alone when it has
    // no token label: no trailing space.
    void logitsRowsAreNamedByPositionAndToken() {
        auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>{1, 2, 3}, "");
        cache->add("unembed.hook_out", at::zeros({1, 3, 4}));
        TensorView view;
        view.set_cache(cache, {"a", ""}, {}); // position 1's label is empty, position 2 has none
        view.show_hook("unembed.hook_out");
        QTableWidget* table = view.logits_table();
        QCOMPARE(table->rowCount(), 3);
        QCOMPARE(table->verticalHeaderItem(0)->text(), QString("0 a"));
        QCOMPARE(table->verticalHeaderItem(1)->text(), QString("1"));
        QCOMPARE(table->verticalHeaderItem(2)->text(), QString("2"));
    }

    void tickLabelsTurnThenThin() {
        QCOMPARE(label_gap(15), 5);
        // 40 px labels, 15 px lines: side by side from 45 px apart, turned from 20 px,
        // below that every second or third.
        QCOMPARE(fit_labels_across(40, 15, 45).step, int64_t(1));
        QVERIFY(!fit_labels_across(40, 15, 45).turned);
        QVERIFY(fit_labels_across(40, 15, 44).turned);
        QCOMPARE(fit_labels_across(40, 15, 20).step, int64_t(1));
        QCOMPARE(fit_labels_across(40, 15, 19).step, int64_t(2));
        QCOMPARE(fit_labels_across(40, 15, 7).step, int64_t(3));
        QCOMPARE(fit_labels_down(15, 20).step, int64_t(1));
        QCOMPARE(fit_labels_down(15, 6.5).step, int64_t(4));
    }

    // Every stage's label of the residual norms is drawn whole inside the plot (one
    // crossing the widget's border is left out by QCustomPlot) and apart from its
    // neighbours, in either scale; a model of a few layers has every one of them.
    void residualStageLabelsAreAllDrawn() {
        for (const int layers : {4, 12}) {
            auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>(30, 1), "");
            for (int i = 0; i < layers; ++i) {
                cache->add("blocks." + std::to_string(i) + ".hook_resid_pre",
                           at::full({1, 30, 8}, double((i + 1) * (i + 1))));
            }
            cache->add("blocks." + std::to_string(layers - 1) + ".hook_resid_post", at::full({1, 30, 8}, 300.0));
            for (const int width : {480, 560, 640, 1000}) {
                ResidualView view;
                view.resize(width, 500);
                view.show();
                QVERIFY(QTest::qWaitForWindowExposed(&view));
                view.set_cache(cache, {}, layers);
                for (const bool log : {true, false}) {
                    view.set_log_scale(log);
                    QCustomPlot* plot = view.plot();
                    plot->replot();
                    QCoreApplication::processEvents(); // a replot the first layout asked for
                    const auto ticker = plot->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
                    const QMap<double, QString> ticks = ticker->ticks();
                    const QFontMetrics metrics(plot->xAxis->tickLabelFont());
                    const bool turned = plot->xAxis->tickLabelRotation() != 0;
                    const QString where = QString("%1 layers, %2 px, log %3").arg(layers).arg(width).arg(log);
                    double previous_end = -1;
                    for (auto it = ticks.begin(); it != ticks.end(); ++it) {
                        const double extent = turned ? metrics.height() : metrics.horizontalAdvance(it.value());
                        const double centre = plot->xAxis->coordToPixel(it.key());
                        QVERIFY2(centre - extent / 2 >= 0 && centre + extent / 2 <= plot->width(),
                                 qPrintable(where + ": " + it.value()));
                        QVERIFY2(centre - extent / 2 > previous_end, qPrintable(where + ": " + it.value()));
                        previous_end = centre + extent / 2;
                    }
                    if (layers == 4 || width == 1000) {
                        QStringList expected;
                        for (int i = 0; i < layers; ++i)
                            expected << QString("%1 pre").arg(i);
                        expected << QString("%1 post").arg(layers - 1);
                        QCOMPARE(ticks.values(), expected);
                    }
                }
            }
        }
    }

    // The L2 norm bars beside a tensor keep their labels apart: position labels thin to
    // a line and a third each, value labels to what the bars' width holds.
    void tensorBarLabelsKeepApart() {
        auto cache = std::make_shared<ActivationCache>(std::vector<int64_t>(60, 1), "");
        cache->add("blocks.0.hook_resid_pre", at::arange(60 * 8, at::kFloat).reshape({1, 60, 8}));
        QStringList labels;
        for (int i = 0; i < 60; ++i)
            labels << QString("token%1").arg(i);
        for (const QSize size : {QSize(480, 400), QSize(900, 700)}) {
            TensorView view;
            view.resize(size);
            view.show();
            QVERIFY(QTest::qWaitForWindowExposed(&view));
            view.set_cache(cache, labels, {});
            view.show_hook("blocks.0.hook_resid_pre");
            QCustomPlot* bars = view.bars();
            bars->replot();
            QCoreApplication::processEvents();
            const QFontMetrics metrics(bars->yAxis->tickLabelFont());
            const int gap = label_gap(metrics.height());
            // Positions, down the left.
            const auto ticker = bars->yAxis->ticker().dynamicCast<QCPAxisTickerText>();
            const QList<double> rows = ticker->ticks().keys();
            QVERIFY(rows.size() >= 5);
            QCOMPARE(rows.front(), 0.0);
            for (qsizetype i = 1; i < rows.size(); ++i) {
                const double apart = bars->yAxis->coordToPixel(rows[i]) - bars->yAxis->coordToPixel(rows[i - 1]);
                QVERIFY2(apart >= metrics.height() + gap, qPrintable(QString::number(apart)));
            }
            // Values, along the bottom: at least two, apart and inside the plot.
            QVector<double> ticks;
            QVector<QString> texts;
            bars->xAxis->ticker()->generate(bars->xAxis->range(), bars->locale(), 'g', bars->xAxis->numberPrecision(),
                                            ticks, nullptr, &texts);
            double previous_end = -1;
            int shown = 0;
            for (qsizetype i = 0; i < ticks.size(); ++i) {
                if (!bars->xAxis->range().contains(ticks[i])) continue;
                const double width = metrics.horizontalAdvance(texts[i]);
                const double centre = bars->xAxis->coordToPixel(ticks[i]);
                QVERIFY2(centre - width / 2 >= previous_end + (shown ? gap : 0), qPrintable(texts.join(' ')));
                QVERIFY2(centre + width / 2 <= bars->width(), qPrintable(texts.join(' ')));
                previous_end = centre + width / 2;
                ++shown;
            }
            QVERIFY2(shown >= 2, qPrintable(texts.join(' ')));
        }
    }

    void plotsSaveAsPngAndPdf() {
        QTemporaryDir dir;
        HeatmapPlot plot;
        plot.resize(300, 200);
        const Matrix m{2, 2, {0.1, 0.2, 0.3, 0.4}};
        plot.set_matrix(m, colour_range(m), {}, {});
        QVERIFY(save_plot(&plot, dir.filePath("p.png")));
        QCOMPARE(QImage(dir.filePath("p.png")).size(), QSize(300, 200));
        QVERIFY(save_plot(&plot, dir.filePath("p.pdf")));
        QFile pdf(dir.filePath("p.pdf"));
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(5) == "%PDF-");
        QVERIFY(!save_plot(&plot, dir.filePath("no/such/folder/p.png")));
    }

    void heatmapHoldsItsCellsAndDescribesThem() {
        HeatmapPlot plot;
        plot.resize(400, 400);
        // Before any data, and after an empty matrix, it draws no cells and no scale.
        QVERIFY(!plot.color_map()->visible());
        const Matrix m{2, 3, {0.1, 0.2, 0.3, 0.4, NAN, 0.6}};
        plot.set_matrix(m, colour_range(m), {"a", "b"}, {"x", "y", "z"});
        plot.replot();
        QCOMPARE(plot.color_map()->data()->keySize(), 3);
        QCOMPARE(plot.color_map()->data()->valueSize(), 2);
        QCOMPARE(plot.color_map()->data()->cell(2, 1), 0.6);
        QVERIFY(!plot.color_map()->interpolate());
        QVERIFY(plot.describe(1, 1).contains("masked"));
        // The pixel at a cell's centre maps back to that cell.
        const QPoint centre(static_cast<int>(plot.xAxis->coordToPixel(2)),
                            static_cast<int>(plot.yAxis->coordToPixel(1)));
        QCOMPARE(plot.cell_at(centre), (std::optional<std::pair<int64_t, int64_t>>{{1, 2}}));
        QVERIFY(!plot.cell_at(QPoint(0, 0)));

        // A single row (one token) still draws: its cells span the row's full height.
        const Matrix one{1, 3, {0.5, 0.7, 0.9}};
        plot.set_matrix(one, colour_range(one), {"only"}, {});
        plot.replot();
        QCOMPARE(plot.color_map()->data()->valueSize(), 2);
        const QPoint row_centre(static_cast<int>(plot.xAxis->coordToPixel(1)),
                                static_cast<int>(plot.yAxis->coordToPixel(0.4)));
        QCOMPARE(plot.cell_at(row_centre), (std::optional<std::pair<int64_t, int64_t>>{{0, 1}}));
        QCOMPARE(plot.color_map()->data()->data(1, 0.2), 0.7);
        QVERIFY(plot.color_map()->visible());
        plot.set_matrix({}, {0, 1}, {}, {});
        QVERIFY(!plot.color_map()->visible());

        // Thumbnails colour masked cells grey and scale to the size asked.
        const QImage image = thumbnail_image(m, colour_range(m), 30);
        QCOMPARE(image.size(), QSize(30, 30));
        QCOMPARE(QColor(image.pixel(15, 25)), QColor(225, 225, 225)); // row 1, col 1 is NaN
    }
};

HOOKSCOPE_TEST_MAIN(TestViews)

} // namespace tst_views
#include "tst_views.moc"
