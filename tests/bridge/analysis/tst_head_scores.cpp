// Head detectors on constructed patterns with known scores, and on a real model.

#include "bridge/analysis/head_scores.h"
#include "bridge/model/model.h"
#include "support/test_main.h"

#include <ATen/ATen.h>

#include <QtTest>

#include <cmath>

namespace tst_head_scores {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

constexpr int64_t T = 6, P = 2 * T;

bool near(double a, double b) {
    return std::abs(a - b) < 1e-12;
}

} // namespace

class TestHeadScores : public QObject {
    Q_OBJECT

private slots:
    void exactPatternsScoreOne() {
        // Every query on the previous position (position 0 on itself).
        at::Tensor previous = at::zeros({P, P}, at::kDouble);
        previous[0][0] = 1;
        for (int64_t i = 1; i < P; ++i)
            previous[i][i - 1] = 1;
        const PatternScores p = pattern_scores(previous, T);
        QCOMPARE(p.previous_token, 1.0);
        QCOMPARE(p.duplicate_token, 0.0);
        QCOMPARE(p.induction, 0.0);

        // The second copy attends to the token after its first occurrence.
        at::Tensor induction = at::zeros({P, P}, at::kDouble);
        for (int64_t i = 0; i < T; ++i)
            induction[i][0] = 1;
        for (int64_t i = 0; i < T; ++i)
            induction[T + i][std::min(i + 1, T + i)] = 1;
        const PatternScores q = pattern_scores(induction, T);
        QCOMPARE(q.induction, 1.0);
        QCOMPARE(q.duplicate_token, 0.0);

        // ... and a duplicate-token head to the occurrence itself.
        at::Tensor duplicate = at::zeros({P, P}, at::kDouble);
        for (int64_t i = 0; i < T; ++i) {
            duplicate[i][i] = 1;
            duplicate[T + i][i] = 1;
        }
        QCOMPARE(pattern_scores(duplicate, T).duplicate_token, 1.0);
    }

    // Uniform causal attention: row i puts 1/(i+1) on each key.
    void uniformCausalPatternScoresItsComputableValue() {
        at::Tensor uniform = at::zeros({P, P}, at::kDouble);
        for (int64_t i = 0; i < P; ++i)
            uniform[i].slice(0, 0, i + 1).fill_(1.0 / static_cast<double>(i + 1));
        double previous = 0, duplicate = 0, induction = 0;
        for (int64_t i = 1; i < P; ++i)
            previous += 1.0 / static_cast<double>(i + 1);
        for (int64_t i = 0; i < T; ++i)
            duplicate += 1.0 / static_cast<double>(T + i + 1);
        for (int64_t i = 0; i + 1 < T; ++i)
            induction += 1.0 / static_cast<double>(T + i + 1);
        const PatternScores s = pattern_scores(uniform, T);
        QVERIFY(near(s.previous_token, previous / (P - 1)));
        QVERIFY(near(s.duplicate_token, duplicate / T));
        QVERIFY(near(s.induction, induction / (T - 1)));
        QVERIFY_THROWS_EXCEPTION(std::exception, pattern_scores(uniform, T + 1));
    }

    void randomSequencesRepeatFromTheUpperVocabulary() {
        const std::vector<int64_t> a = repeated_random_tokens(1000, 50, 3);
        QCOMPARE(a.size(), std::size_t(100));
        for (std::size_t i = 0; i < 50; ++i) {
            QCOMPARE(a[i], a[50 + i]);
            QVERIFY(a[i] >= 100 && a[i] < 1000);
        }
        QCOMPARE(repeated_random_tokens(1000, 50, 3), a); // seeded
        QVERIFY(repeated_random_tokens(1000, 50, 4) != a);
    }

    // On a real model: one score per layer and head, each the mean of the stripe
    // averaged over the sequences, computed here directly from the patterns.
    void modelScoresAverageTheSequences() {
        const auto model = Model::load(fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny");
        const HeadScores s = head_scores(*model, 20, 3);
        QCOMPARE(s.sequence_length, int64_t(20));
        QCOMPARE(s.induction.size(), std::size_t(2));
        QCOMPARE(s.induction[0].size(), std::size_t(4));
        double expected = 0;
        for (uint64_t seed = 0; seed < 3; ++seed) {
            const auto cache = model->run_with_cache(repeated_random_tokens(512, 20, seed));
            const at::Tensor a = cache["blocks.1.attn.hook_pattern"][0][2].to(at::kDouble);
            double sum = 0;
            for (int64_t i = 0; i < 19; ++i)
                sum += a[20 + i][i + 1].item<double>();
            expected += sum / 19 / 3;
        }
        QVERIFY2(std::abs(s.induction[1][2] - expected) < 1e-6,
                 qPrintable(QString("%1 vs %2").arg(s.induction[1][2]).arg(expected)));
        // Context 128: T = 50 fits (100 positions); T = 80 shrinks to 64.
        QCOMPARE(head_scores(*model, 80, 1).sequence_length, int64_t(64));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestHeadScores)

} // namespace tst_head_scores
#include "tst_head_scores.moc"
