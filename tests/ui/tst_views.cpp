// The views and plots: axis labels, the attention view under grouped-query attention,
// and the heatmap widget's cells, tooltips and saved files.

#include "bridge/analysis/view_data.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "ui/attention_view.h"
#include "ui/heatmap_plot.h"

#include <QLabel>
#include <QListWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

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

        // Thumbnails colour masked cells grey and scale to the size asked.
        const QImage image = thumbnail_image(m, colour_range(m), 30);
        QCOMPARE(image.size(), QSize(30, 30));
        QCOMPARE(QColor(image.pixel(15, 25)), QColor(225, 225, 225)); // row 1, col 1 is NaN
    }
};

QTEST_MAIN(TestViews)
#include "tst_views.moc"
