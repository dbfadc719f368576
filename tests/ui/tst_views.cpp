// What the plots are fed: matrices, norms, colour ranges and labels, against tensors
// computed directly; and the heatmap widget's cells and tooltips.

#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/tensor_compare.h"
#include "ui/attention_view.h"
#include "ui/heatmap_plot.h"
#include "ui/view_data.h"

#include <ATen/ATen.h>

#include <QLabel>
#include <QListWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace hookscope;
using namespace hookscope::ui;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

at::Tensor as_tensor(const Matrix& m) {
    return at::tensor(at::ArrayRef<double>(m.values), at::kDouble).reshape({m.rows, m.cols});
}

} // namespace

class TestViews : public QObject {
    Q_OBJECT

private slots:
    void runDifferenceAlignsByPosition() {
        const at::Tensor a = at::arange(24, at::kFloat).view({1, 6, 4}), b = at::ones({1, 4, 4});
        QVERIFY(at::equal(run_difference("blocks.0.hook_resid_pre", a, b), a.narrow(1, 0, 4) - 1));
        // Attention matrices: queries and keys both cut to the shared positions.
        const at::Tensor p = at::rand({1, 2, 5, 5}), q = at::rand({1, 2, 3, 3});
        QVERIFY(at::equal(run_difference("blocks.0.attn.hook_pattern", p, q), p.narrow(2, 0, 3).narrow(3, 0, 3) - q));
        // Other widths (another model): refused, naming both shapes.
        try {
            run_difference("blocks.0.hook_resid_pre", a, at::ones({1, 6, 8}));
            QFAIL("no error");
        } catch (const std::invalid_argument& e) {
            QCOMPARE(QString(e.what()), QString("`blocks.0.hook_resid_pre` is [1, 6, 4] in this run and [1, 6, 8] in "
                                                "the pinned one: they cannot be compared"));
        }
    }

    void layoutsFollowNameAndRank() {
        QCOMPARE(layout_of("blocks.0.attn.hook_pattern", {1, 4, 12, 12}), HookLayout::HeadMatrix);
        QCOMPARE(layout_of("blocks.0.attn.hook_attn_scores", {1, 4, 4, 4}), HookLayout::HeadMatrix);
        // [1, pos, heads, d_head] with heads == d_head is still per-head vectors.
        QCOMPARE(layout_of("blocks.0.attn.hook_q", {1, 12, 4, 4}), HookLayout::HeadVectors);
        QCOMPARE(layout_of("blocks.0.hook_resid_pre", {1, 12, 64}), HookLayout::Vectors);
        QCOMPARE(layout_of("blocks.0.ln1.hook_scale", {1, 12, 1}), HookLayout::Scalars);
    }

    void matricesAreTheTensorSlices() {
        const auto model = Model::load(kGpt2);
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128, 255, 256};
        const ActivationCache cache = model->run_with_cache(tokens);
        const at::Tensor pattern = cache["blocks.1.attn.hook_pattern"];
        QCOMPARE(head_count("blocks.1.attn.hook_pattern", pattern), int64_t(4));
        const Matrix p = hook_matrix("blocks.1.attn.hook_pattern", pattern, 2);
        QCOMPARE(p.rows, int64_t(7));
        QCOMPARE(p.cols, int64_t(7));
        QVERIFY(as_tensor(p).equal(pattern[0][2].to(at::kDouble)));

        // Thumbnails: each cell the largest of the region it covers (7 -> 4: rows 5-6 for the last).
        const Matrix pooled = pooled_matrix("blocks.1.attn.hook_pattern", pattern, 2, 4);
        QCOMPARE(pooled.rows, int64_t(4));
        QCOMPARE(pooled.at(3, 0), pattern[0][2].slice(0, 5, 7).slice(1, 0, 2).max().item<double>());
        QCOMPARE(pooled_matrix("blocks.1.attn.hook_pattern", pattern, 2, 72).values, p.values); // small: as is

        // Scores: the masked future (-inf) becomes NaN, the rest is the tensor's.
        const at::Tensor scores = cache["blocks.0.attn.hook_attn_scores"];
        const Matrix s = hook_matrix("blocks.0.attn.hook_attn_scores", scores, 1);
        QVERIFY(std::isnan(s.at(0, 1)) && std::isnan(s.at(2, 6)));
        QCOMPARE(s.at(3, 2), scores[0][1][3][2].item<double>());

        const at::Tensor q = cache["blocks.0.attn.hook_q"]; // [1, P, H, Dh]
        QVERIFY(as_tensor(hook_matrix("blocks.0.attn.hook_q", q, 3)).equal(q[0].select(1, 3).to(at::kDouble)));

        const at::Tensor resid = cache["blocks.1.hook_resid_pre"];
        const Matrix r = hook_matrix("blocks.1.hook_resid_pre", resid);
        const std::vector<double> norms = row_norms(r);
        const at::Tensor expected = resid[0].to(at::kDouble).norm(2, -1);
        for (int64_t i = 0; i < r.rows; ++i)
            QVERIFY(std::abs(norms[static_cast<std::size_t>(i)] - expected[i].item<double>()) < 1e-9);

        // Residual norms: every resid_pre, then the last resid_post.
        const ResidualNorms rn = residual_norms(cache, 2);
        QCOMPARE(rn.stages, (std::vector<std::string>{"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                                      "blocks.1.hook_resid_post"}));
        QCOMPARE(rn.norms[1][4], expected[4].item<double>());

        // The most likely tokens, with softmax probabilities, best first.
        const auto top = top_tokens(cache.logits(), 3);
        const at::Tensor probs = at::softmax(cache.logits()[0].to(at::kDouble), -1);
        QCOMPARE(top.size(), std::size_t(7));
        QCOMPARE(top[5][0].id, probs[5].argmax().item<int64_t>());
        QVERIFY(std::abs(top[5][0].probability - probs[5].max().item<double>()) < 1e-12);
        QVERIFY(top[5][0].probability >= top[5][1].probability && top[5][1].probability >= top[5][2].probability);
    }

    void colourRangesAndLabels() {
        QCOMPARE(colour_range(Matrix{1, 3, {0.1, 0.5, 0.9}}), std::make_pair(0.1, 0.9));
        QCOMPARE(colour_range(Matrix{1, 3, {-2, 0.5, 1}}), std::make_pair(-2.0, 2.0)); // 0 in the middle
        QCOMPARE(colour_range(Matrix{1, 2, {NAN, 3}}), std::make_pair(2.5, 3.5));      // one finite value
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
