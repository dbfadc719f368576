#pragma once
// Reference-output comparison for tests: |a - b| <= atol + rtol * |b| everywhere,
// reporting the largest difference.

#include <ATen/ATen.h>

#include <QtTest>

namespace hookscope::test {

struct Difference {
    double max_abs = 0;
    bool close = false;
};

inline Difference compare(const at::Tensor& actual, const at::Tensor& expected, double atol = 1e-4,
                          double rtol = 1e-4) {
    const at::Tensor a = actual.to(at::kDouble), b = expected.to(at::kDouble);
    const at::Tensor diff = (a - b).abs();
    Difference d;
    d.max_abs = diff.numel() ? diff.max().item<double>() : 0.0;
    d.close = (diff <= atol + rtol * b.abs()).all().item<bool>();
    return d;
}

} // namespace hookscope::test

// Compares shapes and values, printing the largest difference for `what`.
#define HS_COMPARE_TENSORS(actual, expected, what)                                                                     \
    do {                                                                                                               \
        const at::Tensor hs_a = (actual);                                                                              \
        const at::Tensor hs_b = (expected);                                                                            \
        QCOMPARE(hs_a.sizes().vec(), hs_b.sizes().vec());                                                              \
        const auto hs_d = hookscope::test::compare(hs_a, hs_b);                                                        \
        qInfo("%-36s max |diff| = %.3g", std::string(what).c_str(), hs_d.max_abs);                                     \
        QVERIFY2(hs_d.close, qPrintable(QString("%1 differs from the reference by up to %2")                           \
                                            .arg(QString::fromStdString(std::string(what)))                            \
                                            .arg(hs_d.max_abs)));                                                      \
    } while (false)
