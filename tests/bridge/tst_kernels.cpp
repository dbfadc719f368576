// The decode kernels against LibTorch's products: every code path the CPU has
// (AVX-512, AVX2/FMA, portable), one and several threads, sizes with ragged tails.

#include "bridge/kernels.h"
#include "support/tensor_compare.h"

#include <QtTest>

using namespace hookscope;

class TestKernels : public QObject {
    Q_OBJECT

    void compareAll() {
        at::manual_seed(3);
        for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 13}, {768, 2304}, {64, 35}}) {
            const at::Tensor w = at::randn({in, out}), x = at::randn({in}), b = at::randn({out});
            at::Tensor y = at::empty({out});
            kernels::gemv_in_out(w.data_ptr<float>(), in, out, x.data_ptr<float>(), b.data_ptr<float>(),
                                 y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w.t(), x), "gemv_in_out");
            kernels::gemv_in_out(w.data_ptr<float>(), in, out, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::mv(w.t(), x), "gemv_in_out without bias");
            const at::Tensor w16 = w.to(at::kBFloat16).contiguous();
            kernels::gemv_in_out_bf16(reinterpret_cast<const uint16_t*>(w16.data_ptr<at::BFloat16>()), in, out,
                                      x.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w16.to(at::kFloat).t(), x), "gemv_in_out_bf16");
        }
        for (const auto& [rows, cols] :
             std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {5, 9}, {1027, 768}, {3, 64}}) {
            const at::Tensor w = at::randn({rows, cols}), x = at::randn({cols}), b = at::randn({rows});
            at::Tensor y = at::empty({rows});
            kernels::gemv_rows(w.data_ptr<float>(), rows, cols, x.data_ptr<float>(), b.data_ptr<float>(),
                               y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w, x), "gemv_rows");
            kernels::gemv_rows(w.data_ptr<float>(), rows, cols, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::mv(w, x), "gemv_rows without bias");
            // bfloat16 weights: the same product with the weights rounded to bfloat16.
            const at::Tensor w16 = w.to(at::kBFloat16).contiguous();
            kernels::gemv_rows_bf16(reinterpret_cast<const uint16_t*>(w16.data_ptr<at::BFloat16>()), rows, cols,
                                    x.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w16.to(at::kFloat), x), "gemv_rows_bf16");
            // Widening a block with a row stride is exact: every bfloat16 is a float32.
            const int64_t skip = cols > 1 ? 1 : 0, width = cols - skip;
            at::Tensor wide = at::empty({rows, width});
            kernels::widen_bf16(reinterpret_cast<const uint16_t*>(w16.data_ptr<at::BFloat16>()) + skip, rows, width,
                                cols, wide.data_ptr<float>());
            QVERIFY(at::equal(wide, w16.slice(1, skip, cols).to(at::kFloat)));
        }
    }

private slots:
    void matchLibTorch_data() {
        QTest::addColumn<int>("level");
        QTest::addColumn<int>("threads");
        for (const auto level : {kernels::Level::Portable, kernels::Level::Avx2, kernels::Level::Avx512}) {
            for (const int threads : {1, 2, 3}) {
                QTest::addRow("%s, %d threads", kernels::level_name(level), threads)
                    << static_cast<int>(level) << threads;
            }
        }
    }

    void matchLibTorch() {
        QFETCH(int, level);
        QFETCH(int, threads);
        const auto wanted = static_cast<kernels::Level>(level);
        kernels::cap_level(wanted);
        if (kernels::level() != wanted) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        QCOMPARE(kernels::threads(), threads);
        compareAll();
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }
};

QTEST_GUILESS_MAIN(TestKernels)
#include "tst_kernels.moc"
