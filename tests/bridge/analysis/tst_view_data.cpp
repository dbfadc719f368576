// What the views are fed, computed by bridge/analysis: matrices, norms, colour ranges,
// differences between runs, the most likely tokens and statistics, against tensors
// computed directly.

#include "bridge/analysis/view_data.h"
#include "bridge/core/errors.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/model.h"
#include "support/test_main.h"

#include <ATen/ATen.h>

#include <QtTest>

#include <cmath>
#include <limits>

namespace tst_view_data {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

at::Tensor as_tensor(const Matrix& m) {
    return at::tensor(at::ArrayRef<double>(m.values), at::kDouble).reshape({m.rows, m.cols});
}

} // namespace

class TestViewData : public QObject {
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

    // Two float32 runs of the same values differ by rounding at most 8 · 2⁻²⁴ of the
    // largest magnitude: such a difference shows as exactly 0, and the runs as agreeing.
    void differencesWithinRoundingAreZero() {
        const at::Tensor a = at::randn({1, 5, 16});
        const at::Tensor rounded = a * (1.0f + std::ldexp(1.0f, -22)); // 4 roundings' worth on each value
        const at::Tensor same = run_difference("blocks.0.hook_resid_pre", a, rounded);
        QVERIFY(at::equal(same, at::zeros_like(same)));
        QVERIFY(all_zero(same));
        const at::Tensor apart = run_difference("blocks.0.hook_resid_pre", a, a + 1e-3f);
        QVERIFY(!all_zero(apart));
        QVERIFY((apart + 1e-3f).abs().max().item<double>() < 1e-6);
        // Masked scores (-inf) stay masked and do not count.
        const double inf = std::numeric_limits<double>::infinity();
        const at::Tensor scores = at::tensor({1.0, -inf, 0.5, 2.0}).view({1, 1, 2, 2}).to(at::kFloat);
        const at::Tensor masked = run_difference("blocks.0.attn.hook_attn_scores", scores, scores);
        QVERIFY(std::isnan(masked[0][0][0][1].item<double>()));
        QVERIFY(all_zero(masked));
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

    // Rank and probability of one token, by hand: position 0 has logits
    // [0, ln 2, ln 2, 0], so probabilities [1/6, 1/3, 1/3, 1/6]; position 1 has
    // [3, 2, 1, 0].
    void tokenRankCountsTheMoreLikely() {
        const double ln2 = std::log(2.0);
        const at::Tensor logits =
            at::tensor(std::vector<double>{0, ln2, ln2, 0, 3, 2, 1, 0}, at::kDouble).reshape({1, 2, 4});
        // Tied tokens share the best rank, and the next one after them is third.
        QCOMPARE(token_rank(logits, 0, 1).rank, int64_t(1));
        QCOMPARE(token_rank(logits, 0, 2).rank, int64_t(1));
        QCOMPARE(token_rank(logits, 0, 0).rank, int64_t(3));
        QCOMPARE(token_rank(logits, 0, 3).rank, int64_t(3));
        QVERIFY(std::abs(token_rank(logits, 0, 2).probability - 1.0 / 3) < 1e-12);
        QVERIFY(std::abs(token_rank(logits, 0, 3).probability - 1.0 / 6) < 1e-12);
        const double sum = std::exp(3.0) + std::exp(2.0) + std::exp(1.0) + 1;
        QCOMPARE(token_rank(logits, 1, 0).rank, int64_t(1));
        QCOMPARE(token_rank(logits, 1, 3).rank, int64_t(4));
        QVERIFY(std::abs(token_rank(logits, 1, 3).probability - 1 / sum) < 1e-12);
        QVERIFY(std::abs(token_rank(logits, 1, 1).probability - std::exp(2.0) / sum) < 1e-12);
        // The same probability as the top tokens give.
        QCOMPARE(token_rank(logits, 1, 1).probability, top_tokens(logits, 2)[1][1].probability);
        // A token outside the vocabulary, or a position outside the logits: said so.
        for (const int64_t id : {int64_t(4), int64_t(-1)}) {
            try {
                token_rank(logits, 0, id);
                QFAIL("no error");
            } catch (const InputError& e) {
                QVERIFY2(QString(e.what()).contains(QString("token id %1 is outside").arg(id)), e.what());
            }
        }
        QVERIFY_THROWS_EXCEPTION(InputError, token_rank(logits, 2, 0));
    }

    void colourRanges() {
        QVERIFY(colour_range(Matrix{1, 3, {0.1, 0.5, 0.9}}) == (ColourRange{0.1, 0.9, false}));
        QVERIFY(colour_range(Matrix{1, 3, {-2, 0.5, 1}}) == (ColourRange{-2.0, 2.0, true})); // 0 in the middle
        QVERIFY(colour_range(Matrix{1, 2, {-3, -1}}) == (ColourRange{-3.0, -1.0, true}));
        QVERIFY(colour_range(Matrix{1, 2, {NAN, NAN}}) == (ColourRange{0.0, 1.0, false})); // nothing finite
        // Side by side: the range of both matrices' values together.
        QVERIFY(colour_range(Matrix{1, 2, {0.2, 0.4}}, Matrix{1, 2, {0.1, 0.3}}) == (ColourRange{0.1, 0.4, false}));
        QVERIFY(colour_range(Matrix{1, 2, {0.2, 0.4}}, Matrix{1, 2, {-1, NAN}}) == (ColourRange{-1.0, 1.0, true}));
    }

    // One value everywhere would be a range of zero width: it gets a range centred on the
    // value, on the sequential gradient, so its cells take the gradient's middle colour
    // instead of the diverging white that looks like no data.
    void uniformMatricesGetARangeCentredOnTheirValue() {
        QVERIFY(colour_range(Matrix{2, 2, {0, 0, 0, 0}}) == (ColourRange{-1.0, 1.0, false}));
        QVERIFY(colour_range(Matrix{1, 2, {NAN, 3}}) == (ColourRange{2.7, 3.3, false})); // one finite value
        QVERIFY(colour_range(Matrix{1, 2, {-20, -20}}) == (ColourRange{-22.0, -18.0, false}));
        const ColourRange tiny = colour_range(Matrix{1, 1, {1e-30}});
        QVERIFY(tiny.lower < 1e-30 && tiny.upper > 1e-30 && !tiny.diverging);
        QCOMPARE(tiny.upper - tiny.lower, 2e-31);
        // Two uniform matrices of one value share that range; of different values, theirs.
        QVERIFY(colour_range(Matrix{1, 1, {0}}, Matrix{1, 1, {0}}) == (ColourRange{-1.0, 1.0, false}));
        QVERIFY(colour_range(Matrix{1, 1, {0}}, Matrix{1, 1, {2}}) == (ColourRange{0.0, 2.0, false}));

        QCOMPARE(uniform_value(Matrix{2, 2, {0, 0, NAN, 0}}), std::optional<double>(0.0));
        QCOMPARE(uniform_value(Matrix{1, 2, {-1.5, -1.5}}), std::optional<double>(-1.5));
        QVERIFY(!uniform_value(Matrix{1, 2, {0, 1e-12}}));
        QVERIFY(!uniform_value(Matrix{1, 2, {NAN, NAN}}));
        QVERIFY(!uniform_value(Matrix{}));
    }

    void chosenTensorPicksTheRunAndNamesWhatIsMissing() {
        ActivationCache current({1, 2, 3}, ""), pinned({1, 2}, "");
        const at::Tensor a = at::arange(6, at::kFloat).view({1, 3, 2}), b = at::ones({1, 2, 2});
        current.add("blocks.0.hook_resid_pre", a);
        pinned.add("blocks.0.hook_resid_pre", b);
        current.add("blocks.0.hook_mlp_out", a);
        const std::string resid = "blocks.0.hook_resid_pre";
        QVERIFY(chosen_tensor(resid, RunChoice::Current, current, &pinned).equal(a));
        QVERIFY(chosen_tensor(resid, RunChoice::Pinned, current, &pinned).equal(b));
        QVERIFY(chosen_tensor(resid, RunChoice::Difference, current, &pinned).equal(a.narrow(1, 0, 2) - 1));
        // Without a pinned run every choice is this run.
        QVERIFY(chosen_tensor(resid, RunChoice::Difference, current, nullptr).equal(a));
        const auto error = [&](const std::string& name, RunChoice choice) {
            try {
                chosen_tensor(name, choice, current, &pinned);
            } catch (const std::invalid_argument& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        QCOMPARE(error("blocks.0.hook_mlp_out", RunChoice::Pinned),
                 std::string("`blocks.0.hook_mlp_out` was not captured in the pinned run"));
        QCOMPARE(error("blocks.0.hook_mlp_out", RunChoice::Difference),
                 std::string("`blocks.0.hook_mlp_out` was not captured in the pinned run"));
        QCOMPARE(error("blocks.1.hook_mlp_out", RunChoice::Current),
                 std::string("`blocks.1.hook_mlp_out` was not captured in this run"));
    }

    void predictedTokenIsTheArgmaxOfTheLogits() {
        ActivationCache cache({5, 6}, "");
        QVERIFY(!predicted_token(cache, 0)); // no logits
        at::Tensor logits = at::zeros({1, 2, 4});
        logits[0][0][3] = 2.0;
        logits[0][1][1] = 0.5;
        cache.set_logits(logits);
        QCOMPARE(predicted_token(cache, 0), std::optional<int64_t>(3));
        QCOMPARE(predicted_token(cache, 1), std::optional<int64_t>(1));
        QVERIFY(!predicted_token(cache, 2));
        QVERIFY(!predicted_token(cache, -1));
    }

    void statisticsSkipMaskedValues() {
        ActivationCache cache({1, 2}, "");
        const double inf = std::numeric_limits<double>::infinity();
        cache.add("blocks.0.attn.hook_attn_scores", at::tensor({1.0, -inf, -2.0, 3.0}).view({1, 1, 2, 2}));
        cache.add("blocks.0.attn.hook_k", at::full({1, 2, 1, 1}, -inf));
        cache.add("blocks.1.attn.hook_q", at::zeros({1, 2, 3, 1}));
        const auto stats = tensor_stats(cache);
        QCOMPARE(stats.size(), std::size_t(3));
        QVERIFY(stats[0].has_value());
        QCOMPARE(stats[0]->min, -2.0);
        QCOMPARE(stats[0]->max, 3.0);
        QCOMPARE(stats[0]->mean, 2.0 / 3.0);
        QVERIFY(std::abs(stats[0]->l2_norm - std::sqrt(14.0)) < 1e-6);
        QVERIFY(!stats[1].has_value()); // nothing finite

        // Layers from the highest block, heads from the scores, kv heads from the keys.
        const CacheShape shape = cache_shape(cache);
        QCOMPARE(shape.layers, int64_t(2));
        QCOMPARE(shape.heads, int64_t(1));
        QCOMPARE(shape.kv_heads, int64_t(1));
    }
};

HOOKSCOPE_TEST_MAIN(TestViewData)

} // namespace tst_view_data
#include "tst_view_data.moc"
