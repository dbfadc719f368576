// The decode kernels against LibTorch's products: every code path the CPU has
// (AVX-512, AVX2/FMA, portable), one and several threads, sizes with ragged tails.

#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/spin_pool.h"
#include "bridge/model/layers.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"

#include <QtTest>

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace tst_kernels {

using namespace hookscope;

class TestKernels : public QObject {
    Q_OBJECT

    void compareAll() {
        at::manual_seed(3);
        for (const auto& [in, out] :
             std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 13}, {768, 2304}, {64, 35}, {21, 50}}) {
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
        // bfloat16 Conv1D weights in the panel layout: the same product as on [in, out],
        // and the layout undone gives the weights back bit for bit.
        for (const auto& [in, out] :
             std::vector<std::pair<int64_t, int64_t>>{{1, 32}, {7, 64}, {768, 2304}, {300, 96}, {13, 160}}) {
            const at::Tensor w16 = at::randn({in, out}).to(at::kBFloat16), x = at::randn({in}), b = at::randn({out});
            const auto* bits = reinterpret_cast<const uint16_t*>(w16.data_ptr<at::BFloat16>());
            std::vector<uint16_t> packed(static_cast<std::size_t>(in * out)), back(packed.size());
            kernels::pack_panels_bf16(bits, in, out, packed.data());
            kernels::unpack_panels_bf16(packed.data(), in, out, back.data());
            QVERIFY(std::equal(back.begin(), back.end(), bits));
            at::Tensor y = at::empty({out});
            kernels::gemv_panels_bf16(packed.data(), in, out, x.data_ptr<float>(), b.data_ptr<float>(),
                                      y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w16.to(at::kFloat).t(), x), "gemv_panels_bf16");
            kernels::gemv_panels_bf16(packed.data(), in, out, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::mv(w16.to(at::kFloat).t(), x), "gemv_panels_bf16 without bias");
            // float32 panels, natural column order within each.
            const at::Tensor w32 = at::randn({in, out});
            std::vector<float> packed32(packed.size()), back32(packed.size());
            kernels::pack_panels(w32.data_ptr<float>(), in, out, packed32.data());
            kernels::unpack_panels(packed32.data(), in, out, back32.data());
            QVERIFY(std::equal(back32.begin(), back32.end(), w32.data_ptr<float>()));
            QCOMPARE(packed32[static_cast<std::size_t>(in * kernels::kPanelColumns) - 1],
                     w32[in - 1][kernels::kPanelColumns - 1].item<float>()); // panel 0's last row, last column
            kernels::gemv_panels(packed32.data(), in, out, x.data_ptr<float>(), b.data_ptr<float>(),
                                 y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::addmv(b, w32.t(), x), "gemv_panels");
            kernels::gemv_panels(packed32.data(), in, out, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
            HS_COMPARE_TENSORS(y, at::mv(w32.t(), x), "gemv_panels without bias");
        }
        for (const auto& [rows, cols] :
             std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {5, 9}, {1027, 768}, {3, 64}, {13, 50}}) {
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

    // Caps the kernels at `level`; false where this CPU lacks it.
    static bool cap_to(int level) {
        const auto wanted = static_cast<kernels::Level>(level);
        kernels::cap_level(wanted);
        return kernels::level() == wanted;
    }

private slots:
    // Between jobs the workers read ahead into their caches where the last job said
    // (kernels::ReadAhead), with prefetches, which never fault: a read-ahead over memory
    // that cannot be read, as the weights of a model already freed, leaves the workers
    // taking every next job whole.
    void readAheadOverUnreadableMemory() {
        kernels::set_threads(3);
        constexpr std::size_t kBytes = std::size_t{4} << 20;
        void* unreadable = mmap(nullptr, kBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        QVERIFY(unreadable != MAP_FAILED);
        kernels::SpinPool& pool = kernels::SpinPool::instance();
        for (int job = 0; job < 50; ++job) {
            std::vector<int> parts_seen(3, 0);
            pool.run({unreadable, static_cast<int64_t>(kBytes)}, [&](int k, int parts) { parts_seen[k] = parts; });
            QCOMPARE(parts_seen, std::vector<int>(3, 3));
        }
        munmap(unreadable, kBytes);
        kernels::set_threads(1);
    }

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
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        QCOMPARE(kernels::threads(), threads);
        compareAll();
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // The one-position products that spread their chunks over whichever threads are free
    // (rows, and panels in either type) compute each output whole in one chunk, so every thread count
    // gives the same bits, whichever thread ran which chunk; the output is NaN beforehand,
    // so a chunk left out shows, and one run twice adds its sums twice. Three and four
    // threads on a machine with fewer cores leave threads waiting for a core, so chunks
    // move between threads. The shapes make dozens of chunks and ragged ends.
    void sameBitsOnEveryThreadCount_data() {
        QTest::addColumn<int>("level");
        for (const auto level : {kernels::Level::Portable, kernels::Level::Avx2, kernels::Level::Avx512})
            QTest::addRow("%s", kernels::level_name(level)) << static_cast<int>(level);
    }
    void sameBitsOnEveryThreadCount() {
        QFETCH(int, level);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        at::manual_seed(5);
        const int64_t rows = 4099, cols = 700, in = 3001, out = 320;
        const at::Tensor w = at::randn({rows, cols}), x = at::randn({in}), b = at::randn({std::max(rows, out)});
        const at::Tensor w16 = w.to(at::kBFloat16).contiguous();
        const at::Tensor conv16 = at::randn({in, out}).to(at::kBFloat16).contiguous();
        std::vector<uint16_t> panels(static_cast<std::size_t>(in * out));
        kernels::pack_panels_bf16(reinterpret_cast<const uint16_t*>(conv16.data_ptr<at::BFloat16>()), in, out,
                                  panels.data());
        const at::Tensor conv32 = conv16.to(at::kFloat);
        std::vector<float> panels32(panels.size());
        const at::Tensor blocks16 = layers::to_column_blocks(at::randn({rows, 768}).to(at::kBFloat16), 256);
        kernels::pack_panels(conv32.data_ptr<float>(), in, out, panels32.data());
        const auto products = [&] {
            std::vector<at::Tensor> y{at::full({rows}, NAN), at::full({rows}, NAN), at::full({out}, NAN),
                                      at::full({out}, NAN), at::full({rows}, NAN)};
            kernels::gemv_rows(w.data_ptr<float>(), rows, cols, x.data_ptr<float>(), b.data_ptr<float>(),
                               y[0].data_ptr<float>());
            kernels::gemv_rows_bf16(reinterpret_cast<const uint16_t*>(w16.data_ptr<at::BFloat16>()), rows, cols,
                                    x.data_ptr<float>(), b.data_ptr<float>(), y[1].data_ptr<float>());
            kernels::gemv_panels_bf16(panels.data(), in, out, x.data_ptr<float>(), b.data_ptr<float>(),
                                      y[2].data_ptr<float>());
            kernels::gemv_panels(panels32.data(), in, out, x.data_ptr<float>(), b.data_ptr<float>(),
                                 y[3].data_ptr<float>());
            kernels::gemv_column_blocks_bf16(reinterpret_cast<const uint16_t*>(blocks16.data_ptr<at::BFloat16>()),
                                             blocks16.size(0), rows, blocks16.size(2), x.data_ptr<float>(),
                                             b.data_ptr<float>(), y[4].data_ptr<float>());
            return y;
        };
        kernels::set_threads(1);
        const std::vector<at::Tensor> one = products();
        HS_COMPARE_TENSORS(one[0], at::addmv(b.slice(0, 0, rows), w, x.slice(0, 0, cols)), "gemv_rows");
        for (const int threads : {2, 3, 4}) {
            kernels::set_threads(threads);
            for (int repeat = 0; repeat < 20; ++repeat) {
                const std::vector<at::Tensor> again = products();
                for (std::size_t p = 0; p < one.size(); ++p)
                    QVERIFY2(
                        at::equal(again[p], one[p]),
                        qPrintable(QStringLiteral("product %1, %2 threads, run %3").arg(p).arg(threads).arg(repeat)));
            }
        }
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // Products with bfloat16 weights against float64 on the same (widened) weights, on
    // shapes with every kind of edge: rows short of a register tile, inputs short of a
    // block or odd, columns short of a panel; both weight layouts, every level and
    // thread count. The bound: each output sums `in` products in float32 (exact
    // widening, one rounding per fused multiply-add), so it is within in · 2^-24 ·
    // sum |x · w| (Higham's bound for a dot product of length in, first order).
    void gemmBf16MatchesFloat64_data() { matchLibTorch_data(); }
    void gemmBf16MatchesFloat64() {
        QFETCH(int, level);
        QFETCH(int, threads);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        at::manual_seed(11);
        for (const int64_t m : {1, 5, 13, 40}) {
            for (const int64_t in : {1, 3, 255, 257, 600}) {
                for (const int64_t out : {1, 17, 33, 300, 700}) {
                    const at::Tensor x = at::randn({m, in});
                    const at::Tensor w = at::randn({out, in}).to(at::kBFloat16); // nn.Linear layout
                    const at::Tensor w_conv = w.t().contiguous();                // Conv1D layout
                    const at::Tensor xd = x.to(at::kDouble), wd = w.to(at::kDouble);
                    const at::Tensor want = at::mm(xd, wd.t());
                    const at::Tensor bound =
                        at::mm(xd.abs(), wd.abs().t()) * (static_cast<double>(in) * std::ldexp(1.0, -24));
                    for (const bool linear : {true, false}) {
                        const at::Tensor& weights = linear ? w : w_conv;
                        at::Tensor y = at::full({m, out + 3}, 7.0f); // row stride wider than a row
                        kernels::gemm_bf16(x.data_ptr<float>(), m, in, in,
                                           reinterpret_cast<const uint16_t*>(weights.data_ptr<at::BFloat16>()), out,
                                           linear, y.data_ptr<float>(), out + 3);
                        const at::Tensor excess = (y.slice(1, 0, out).to(at::kDouble) - want).abs() - bound;
                        if (excess.max().item<double>() > 0) {
                            QFAIL(qPrintable(QString("m %1, in %2, out %3, %4 layout: %5 past the bound")
                                                 .arg(m)
                                                 .arg(in)
                                                 .arg(out)
                                                 .arg(linear ? "linear" : "conv1d")
                                                 .arg(excess.max().item<double>())));
                        }
                        QVERIFY(at::all(y.slice(1, out, out + 3) == 7.0f).item<bool>()); // untouched
                    }
                }
                // Conv1D weights in the panel layout, whose column counts are multiples of 32.
                for (const int64_t out : {32, 96, 704}) {
                    const at::Tensor x = at::randn({m, in});
                    const at::Tensor w = at::randn({in, out}).to(at::kBFloat16); // Conv1D layout
                    std::vector<uint16_t> packed(static_cast<std::size_t>(in * out));
                    kernels::pack_panels_bf16(reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>()), in, out,
                                              packed.data());
                    const at::Tensor xd = x.to(at::kDouble), wd = w.to(at::kDouble);
                    const at::Tensor bound =
                        at::mm(xd.abs(), wd.abs()) * (static_cast<double>(in) * std::ldexp(1.0, -24));
                    // The same weights as float32 panels: the same sums, so the same bound.
                    const at::Tensor w32 = w.to(at::kFloat);
                    std::vector<float> packed32(static_cast<std::size_t>(in * out));
                    kernels::pack_panels(w32.data_ptr<float>(), in, out, packed32.data());
                    for (const bool bf16 : {true, false}) {
                        at::Tensor y = at::full({m, out + 3}, 7.0f);
                        if (bf16) {
                            kernels::gemm_panels_bf16(x.data_ptr<float>(), m, in, in, packed.data(), out,
                                                      y.data_ptr<float>(), out + 3);
                        } else {
                            kernels::gemm_panels(x.data_ptr<float>(), m, in, in, packed32.data(), out,
                                                 y.data_ptr<float>(), out + 3);
                        }
                        const at::Tensor excess = (y.slice(1, 0, out).to(at::kDouble) - at::mm(xd, wd)).abs() - bound;
                        if (excess.max().item<double>() > 0) {
                            QFAIL(qPrintable(QString("m %1, in %2, out %3, %4 panels: %5 past the bound")
                                                 .arg(m)
                                                 .arg(in)
                                                 .arg(out)
                                                 .arg(bf16 ? "bfloat16" : "float32")
                                                 .arg(excess.max().item<double>())));
                        }
                        QVERIFY(at::all(y.slice(1, out, out + 3) == 7.0f).item<bool>());
                    }
                }
            }
        }
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // nn.Linear weights in column blocks: the layout undone gives the weights back bit
    // for bit, and the product over one position (the decode kernels, summing block
    // after block into each output) and over several (a blocked product per block, the
    // results added in order) is within the bound of gemmBf16MatchesFloat64: each
    // output is a float32 sum of `in` exact products in some order, within in · 2^-24 ·
    // sum |x · w| of the float64 product (first order, any summation order).
    void columnBlocksMatchFloat64_data() { matchLibTorch_data(); }
    void columnBlocksMatchFloat64() {
        QFETCH(int, level);
        QFETCH(int, threads);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        at::manual_seed(13);
        QCOMPARE(layers::column_block_count(2048), 1);
        QCOMPARE(layers::column_block_count(8192), 4);
        QCOMPARE(layers::column_block_count(11008), 8); // 1376 = 86 · 16 each
        QCOMPARE(layers::column_block_count(2050), 1);  // no even split into multiples of 16
        QCOMPARE(layers::column_block_count(96, 32), 3);
        for (const auto& [out, in, most] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                 {1, 32, 16}, {5, 96, 32}, {300, 768, 256}, {17, 640, 200}}) {
            const at::Tensor w = at::randn({out, in}).to(at::kBFloat16);
            const at::Tensor blocks = layers::to_column_blocks(w, most);
            QCOMPARE(blocks.dim(), 3);
            QCOMPARE(blocks.size(0), layers::column_block_count(in, most));
            QVERIFY(at::equal(layers::from_column_blocks(blocks), w));
            for (const int64_t positions : {1, 3}) {
                for (const bool biased : {false, true}) {
                    // A bias is one more term of each sum: in + 1 roundings at most.
                    const at::Tensor x = at::randn({1, positions, in}), b = biased ? at::randn({out}) : at::Tensor();
                    const at::Tensor xd = x.to(at::kDouble), wd = w.to(at::kDouble);
                    const double terms = static_cast<double>(in + (biased ? 1 : 0));
                    at::Tensor want = at::matmul(xd, wd.t()), magnitude = at::matmul(xd.abs(), wd.abs().t());
                    if (biased) {
                        want = want + b.to(at::kDouble);
                        magnitude = magnitude + b.to(at::kDouble).abs();
                    }
                    const at::Tensor y = layers::linear(x, blocks, b);
                    QCOMPARE(y.sizes(), want.sizes());
                    const at::Tensor bound = magnitude * (terms * std::ldexp(1.0, -24));
                    const double excess = ((y.to(at::kDouble) - want).abs() - bound).max().item<double>();
                    QVERIFY2(excess <= 0,
                             qPrintable(QString("out %1, in %2, blocks of %3, %4 positions%5: %6 past the bound")
                                            .arg(out)
                                            .arg(in)
                                            .arg(blocks.size(2))
                                            .arg(positions)
                                            .arg(biased ? ", a bias" : "")
                                            .arg(excess)));
                }
            }
        }
        // Weights it does not apply to come back as they are.
        const at::Tensor short_rows = at::randn({4, 64}).to(at::kBFloat16), wide32 = at::randn({4, 4096});
        QVERIFY(layers::to_column_blocks(short_rows).is_same(short_rows));
        QVERIFY(layers::to_column_blocks(wide32).is_same(wide32));
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // Causal masking and softmax of attention rows against their definitions in float64:
    // rows of every length a vector loop can end on, a start past 0 (decoding after a
    // prompt), masked keys exactly -inf in the scores and exactly 0 in the pattern. The
    // bound: each exp within 2 ulp, a float sum over at most n / lanes + lanes terms, the
    // division: (2 + n + 2) · 2^-24 relative, taken as 1e-6 · n / 16 + 1e-6.
    void causalSoftmaxMatchesFloat64_data() { matchLibTorch_data(); }
    void causalSoftmaxMatchesFloat64() {
        QFETCH(int, level);
        QFETCH(int, threads);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        at::manual_seed(5);
        for (const int64_t positions : {1, 7, 16, 33}) {
            for (const int64_t start : {0, 3}) {
                const int64_t heads = 3, keys = start + positions;
                const at::Tensor raw = at::randn({heads, positions, keys}) * 4;
                at::Tensor scores = raw.clone();
                kernels::scale_causal(scores.data_ptr<float>(), heads, positions, keys, start, 0.125f);
                const at::Tensor future = at::ones({positions, keys}, at::kBool).triu_(start + 1);
                const at::Tensor want = (raw * 0.125).masked_fill(future, -std::numeric_limits<double>::infinity());
                QVERIFY(at::equal(scores, want)); // a multiplication by a power of two is exact
                at::Tensor pattern = at::empty_like(scores);
                kernels::softmax_rows(scores.data_ptr<float>(), heads * positions, keys, pattern.data_ptr<float>());
                const at::Tensor expected = at::softmax(want.to(at::kDouble), -1);
                const double bound = 1e-6 * static_cast<double>(keys) / 16 + 1e-6;
                const double diff = (pattern.to(at::kDouble) - expected).abs().max().item<double>();
                QVERIFY2(diff <= bound, qPrintable(QString("max |diff| %1 > %2").arg(diff).arg(bound)));
                QVERIFY(at::all(pattern.masked_select(future.expand_as(pattern)) == 0).item<bool>());
            }
        }
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // GELU's tanh form and SiLU as x · sigmoid(z) against their definitions in float64,
    // on lengths every vector loop can end on and one the threads split.
    //
    // The bound, to first order in u = 2^-24: z = x (c1 + c3 x^2) carries c1's rounding,
    // c3's three (a product of two rounded constants), and four operations without a
    // fused multiply-add: within 8u |z|. e = exp(-|z|) is within 2 ulp of the exp of that
    // z, at most 4u relative, so within (4 + 8 |z|) u of exp(-|z|); sigmoid's relative
    // error is at most e's (1 / (1 + e) and e / (1 + e) both damp it), and the product,
    // sum and division round three more times: (7 + 8 |z|) u relative, taken as
    // (8 + 8 |z|) u. Below -87.3 the exp is taken as 0, an absolute error under
    // |x| e^-87.3 < |x| · 1.3e-38.
    void sigmoidActivationsMatchFloat64_data() { matchLibTorch_data(); }
    void sigmoidActivationsMatchFloat64() {
        QFETCH(int, level);
        QFETCH(int, threads);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        kernels::set_threads(threads);
        at::manual_seed(13);
        for (const int64_t n : {1, 7, 8, 9, 100, 70001}) {
            at::Tensor x = at::randn({n}) * 4;
            const std::vector<float> edges{0.0f, 1e-20f, -1e-20f, 30.0f, -30.0f, 100.0f, -100.0f, -10.0f};
            for (std::size_t i = 0; i < edges.size() && static_cast<int64_t>(i) < n; ++i)
                x[static_cast<int64_t>(i) * (n - 1) / static_cast<int64_t>(edges.size())] = edges[i];
            const at::Tensor xd = x.to(at::kDouble);
            for (const bool gelu : {true, false}) {
                const at::Tensor z = gelu ? xd * (2 * std::sqrt(2 / M_PI)) * (1 + 0.044715 * xd * xd) : xd;
                const at::Tensor want = xd * at::sigmoid(z);
                at::Tensor got = at::empty_like(x);
                kernels::sigmoid_activation(gelu ? kernels::SigmoidActivation::GeluTanh
                                                 : kernels::SigmoidActivation::Silu,
                                            x.data_ptr<float>(), n, got.data_ptr<float>());
                const at::Tensor bound = (8 + 8 * z.abs()) * std::ldexp(1.0, -24) * want.abs() + xd.abs() * 1.3e-38;
                const at::Tensor excess = (got.to(at::kDouble) - want).abs() - bound;
                const int64_t worst = excess.argmax().item<int64_t>();
                QVERIFY2(excess[worst].item<double>() <= 0,
                         qPrintable(QString("%1, n %2: x %3 gives %4, not %5")
                                        .arg(gelu ? "gelu_tanh" : "silu")
                                        .arg(n)
                                        .arg(x[worst].item<float>(), 0, 'g', 9)
                                        .arg(got[worst].item<float>(), 0, 'g', 9)
                                        .arg(want[worst].item<double>(), 0, 'g', 9)));
            }
            // NaN stays NaN; the result may overwrite its input.
            x[0] = std::numeric_limits<float>::quiet_NaN();
            kernels::sigmoid_activation(kernels::SigmoidActivation::GeluTanh, x.data_ptr<float>(), n,
                                        x.data_ptr<float>());
            QVERIFY(std::isnan(x[0].item<float>()));
        }
        kernels::cap_level(kernels::Level::Avx512);
        kernels::set_threads(1);
    }

    // One position's LayerNorm and RMSNorm, lengths around the sums' eight lanes and a
    // model's widths, inputs off-centre (a residual stream's mean is not 0).
    //
    // The bound, u = 2^-24: the sums run in double (relative error near 2^-53 n, nothing
    // at float precision), so mean and rstd are each within u of exact once rounded to
    // float. LayerNorm computes ((x - m) · rstd) · w + b in float: x - m is off by u·|mean|
    // (m's rounding) and u·|x - mean|, and the two products and the sum add u each of
    // their values. So |got - want| <= 5u · (|(x - mean) · rstd · w| + |mean · rstd · w|
    // + |b|) with room. RMSNorm computes w · (x · rstd): three roundings of |want|, 4u.
    void normsMatchFloat64() {
        at::manual_seed(11);
        const double u = std::ldexp(1.0, -24);
        for (const int64_t n : {1, 7, 8, 9, 64, 768, 2051}) {
            const at::Tensor x = at::randn({n}) * 3 + 5, w = at::randn({n}), b = at::randn({n});
            const at::Tensor xd = x.to(at::kDouble), wd = w.to(at::kDouble), bd = b.to(at::kDouble);
            constexpr double kEps = 1e-5;
            at::Tensor got = at::empty({n});
            kernels::layer_norm(x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), n, kEps,
                                got.data_ptr<float>());
            const at::Tensor mean = xd.mean(), centred = xd - mean;
            const at::Tensor rstd = 1 / (centred.pow(2).mean() + kEps).sqrt();
            const at::Tensor want = centred * rstd * wd + bd;
            const at::Tensor bound = 5 * u * ((centred * rstd * wd).abs() + (mean * rstd * wd).abs() + bd.abs());
            QVERIFY2(((got.to(at::kDouble) - want).abs() <= bound).all().item<bool>(),
                     qPrintable(QString("layer_norm over %1 values").arg(n)));
            kernels::rms_norm(x.data_ptr<float>(), w.data_ptr<float>(), n, kEps, got.data_ptr<float>());
            const at::Tensor rms_want = wd * (xd / (xd.pow(2).mean() + kEps).sqrt());
            QVERIFY2(((got.to(at::kDouble) - rms_want).abs() <= 4 * u * rms_want.abs()).all().item<bool>(),
                     qPrintable(QString("rms_norm over %1 values").arg(n)));
        }
    }

    // Rows of every length a vector loop can end on, a vocabulary-sized one, shifted so
    // that a naive exp would overflow, and rows holding NaN or -inf.
    //
    // The bound: each exp is within 2 ulp (2 · 2^-24 relative); a block's float sum over
    // at most 1024 / 8 = 128 adds per lane is within 128 · 2^-24 of its value; blocks are
    // summed in double. The sum is off by at most (2 + 128) · 2^-24 ≈ 7.7e-6 relative,
    // which the log turns into that much absolute, plus the final float's rounding.
    void logSumExpMatchesFloat64_data() { matchLibTorch_data(); }
    void logSumExpMatchesFloat64() {
        QFETCH(int, level);
        if (!cap_to(level)) QSKIP("this CPU lacks these instructions");
        at::manual_seed(7);
        for (const int64_t n : {1, 7, 8, 15, 16, 17, 33, 1023, 1024, 1025, 50257}) {
            for (const double shift : {0.0, 120.0, -300.0}) {
                const at::Tensor x = at::randn({n}) * 6 + shift;
                const double want = at::logsumexp(x.to(at::kDouble), 0).item<double>();
                const double got = kernels::log_sum_exp(x.data_ptr<float>(), n);
                const double bound = 130 * std::ldexp(1.0, -24) + std::abs(want) * std::ldexp(1.0, -24);
                if (std::abs(got - want) > bound) {
                    QFAIL(qPrintable(QString("n %1, shift %2: %3 against %4 (bound %5)")
                                         .arg(n)
                                         .arg(shift)
                                         .arg(got, 0, 'g', 10)
                                         .arg(want, 0, 'g', 10)
                                         .arg(bound)));
                }
            }
        }
        at::Tensor odd = at::zeros({40});
        odd[3] = -std::numeric_limits<float>::infinity();
        QCOMPARE(kernels::log_sum_exp(odd.data_ptr<float>(), 40), static_cast<float>(std::log(39.0)));
        odd[37] = std::numeric_limits<float>::quiet_NaN();
        QVERIFY(std::isnan(kernels::log_sum_exp(odd.data_ptr<float>(), 40)));
        odd[37] = 0, odd[5] = std::numeric_limits<float>::quiet_NaN(); // in a vector lane
        QVERIFY(std::isnan(kernels::log_sum_exp(odd.data_ptr<float>(), 40)));
        kernels::cap_level(kernels::Level::Avx512);
    }

    // Against a full sort of (value descending, index ascending), on rows with ties,
    // -inf, NaN and fewer numbers than k.
    void topKMatchesSort() {
        at::manual_seed(3);
        for (const int64_t n : {1, 4, 5, 64, 1000, 50257}) {
            // Values on a coarse grid so that ties are common.
            at::Tensor x = (at::randn({n}) * 4).round();
            float* v = x.data_ptr<float>();
            if (n > 3) v[1] = std::numeric_limits<float>::quiet_NaN(), v[2] = -std::numeric_limits<float>::infinity();
            std::vector<int64_t> order;
            for (int64_t i = 0; i < n; ++i)
                if (!std::isnan(v[i])) order.push_back(i);
            std::stable_sort(order.begin(), order.end(), [v](int64_t a, int64_t b) { return v[a] > v[b]; });
            for (const int64_t k : {int64_t{1}, int64_t{5}, kernels::kTopKListed}) {
                std::vector<int64_t> ids(static_cast<std::size_t>(k));
                std::vector<float> values(static_cast<std::size_t>(k));
                const int64_t found = kernels::top_k(v, n, k, ids.data(), values.data());
                QCOMPARE(found, std::min<int64_t>(k, static_cast<int64_t>(order.size())));
                for (int64_t j = 0; j < found; ++j) {
                    QCOMPARE(ids[static_cast<std::size_t>(j)], order[static_cast<std::size_t>(j)]);
                    QCOMPARE(values[static_cast<std::size_t>(j)], v[order[static_cast<std::size_t>(j)]]);
                }
            }
        }
    }

    // The BLAS products pad the rows to a multiple of 16, which can change the order of
    // a row's sums inside the BLAS (OpenBLAS takes small products on other kernels). Each
    // result holds every output within gamma_n * sum |terms| of the exact value (n = in + 1
    // terms with the bias, gamma_n = n u / (1 - n u), u = 2^-24), so the two differ by at
    // most twice that. Rows already a multiple of 16 are left as they were, bit for bit.
    void paddedRowsDifferOnlyByRounding() {
        at::manual_seed(3);
        const int64_t in = 96, out = 80;
        const at::Tensor w = at::randn({in, out}), b = at::randn({out});
        const double u = std::ldexp(1.0, -24), n = static_cast<double>(in + 1);
        const double gamma = n * u / (1 - n * u);
        double worst = 0;
        for (const int64_t rows : {2, 5, 12, 16, 17, 28, 31, 32, 33, 100}) {
            const at::Tensor x = at::randn({rows, in});
            const at::Tensor padded = layers::blas_product(x, w, b), plain = at::addmm(b, x, w);
            const at::Tensor magnitude = at::addmm(b.abs(), x.abs(), w.abs());
            const at::Tensor ratio = (padded - plain).abs() / (2 * gamma * magnitude);
            worst = std::max(worst, ratio.max().item<double>());
            QVERIFY2(ratio.max().item<double>() <= 1.0, qPrintable(QString("%1 rows").arg(rows)));
            if (rows % 16 == 0) QVERIFY(at::equal(padded, plain));
            const at::Tensor wt = w.t().contiguous(); // nn.Linear's [out, in]
            const at::Tensor linear = layers::linear(x.unsqueeze(0), wt, b).squeeze(0);
            QVERIFY(((linear - at::linear(x, wt, b)).abs() / (2 * gamma * magnitude)).max().item<double>() <= 1.0);
        }
        qInfo("largest difference: %.3g of the bound", worst);
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestKernels)

} // namespace tst_kernels
#include "tst_kernels.moc"
