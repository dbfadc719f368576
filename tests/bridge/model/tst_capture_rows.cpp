// Model::capture_rows: several prompts packed in one forward that ends after the last
// selected hook point, on every architecture and kernel level.

#include "bridge/core/errors.h"
#include "bridge/model/model.h"
#include "support/error_text.h"
#include "support/kernel_level.h"
#include "support/tensor_compare.h"

#include <QtTest>

#include <filesystem>

namespace tst_capture_rows {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

} // namespace

class TestCaptureRows : public QObject {
    Q_OBJECT

private slots:
    void batchedRowsEqualEachPromptAlone_data() {
        QTest::addColumn<QString>("folder");
        for (const char* folder : {"gpt2-tiny", "pythia-tiny", "llama-tiny"})
            QTest::newRow(folder) << QString(folder);
    }

    // Prompts of different lengths packed in one forward: each prompt's rows equal its
    // run_with_cache alone. Packing changes only how the products block their sums
    // (float32 sums of at most d_mlp = 256 terms here, each rounding by 2^-24 of the
    // running sum: a relative error near 256 * 6e-8 = 1.5e-5 of the magnitudes summed in
    // the worst case, far less in practice), so within 1e-5 absolute + 1e-5 relative, as
    // a dataset promises. A batch of one runs the very forward of run_with_cache: equal.
    void batchedRowsEqualEachPromptAlone() {
        QFETCH(QString, folder);
        const auto model = Model::load(kGolden / folder.toStdString());
        const NamesFilter names("/^(?!.*attn_scores|.*pattern)/");
        // Together longer than the context (128): each prompt stands at its own positions.
        std::vector<int64_t> long_prompt(100);
        for (std::size_t t = 0; t < long_prompt.size(); ++t)
            long_prompt[t] = static_cast<int64_t>((t * 37 + 11) % 512);
        const std::vector<std::vector<int64_t>> prompts{{5, 17, 42, 99, 128, 255, 300}, {1}, long_prompt, {9, 10, 11}};
        const std::vector<NamedTensors> batched = model->capture_rows(prompts, names);
        QCOMPARE(batched.size(), prompts.size());
        for (std::size_t b = 0; b < prompts.size(); ++b) {
            const ActivationCache alone = model->run_with_cache(prompts[b], names);
            QCOMPARE(batched[b].size(), alone.size());
            const std::vector<NamedTensors> single = model->capture_rows({prompts[b]}, names);
            for (std::size_t h = 0; h < alone.size(); ++h) {
                const auto& [name, expected] = alone.entries()[h];
                QCOMPARE(batched[b][h].first, name);
                QCOMPARE(batched[b][h].second.sizes(), expected[0].sizes());
                const auto d = test::compare(batched[b][h].second, expected[0], 1e-5, 1e-5);
                QVERIFY2(d.close, qPrintable(QString("%1 of prompt %2 differs by %3")
                                                 .arg(QString::fromStdString(name))
                                                 .arg(b)
                                                 .arg(d.max_abs)));
                QVERIFY2(at::equal(single[0][h].second, expected[0]), name.c_str());
            }
        }
        // A forward that ends at its one selected point still records it as computed.
        const std::vector<NamedTensors> early = model->capture_rows(prompts, NamesFilter("blocks.0.hook_resid_post"));
        QCOMPARE(early[0].size(), std::size_t{1});
        HS_COMPARE_TENSORS(early[1][0].second, model->run_with_cache(prompts[1])["blocks.0.hook_resid_post"][0],
                           "resid_post of a one-token prompt");
        QVERIFY(error_of([&] {
                    model->capture_rows(prompts, NamesFilter("blocks.0.attn.hook_pattern"));
                }).contains("attention matrix"));
    }
};

HOOKSCOPE_LEVEL_TEST_MAIN(TestCaptureRows)

} // namespace tst_capture_rows
#include "tst_capture_rows.moc"
