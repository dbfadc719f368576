// Rotary position angles: the inverse frequencies and their scalings (linear, llama3)
// against values computed by hand, and the scaling keys of config.json.

#include "bridge/core/model_config.h"
#include "bridge/model/rotary.h"
#include "support/error_text.h"
#include "support/kernel_level.h"
#include "support/tensor_compare.h"

#include <QtTest>
#include <nlohmann/json.hpp>

#include <cmath>

namespace tst_rotary {

using namespace hookscope;
using hookscope::test::error_of;
using nlohmann::json;

namespace {

// Each angle of `a` for position index `p` and rotary pair `i`.
double angle_cos(const rotary::Angles& a, int64_t p, int64_t i) {
    return a.cos[0][p][0][i].item<double>();
}

} // namespace

class TestRotary : public QObject {
    Q_OBJECT

private slots:
    // Angles computed by hand: inv_freq = base^(-2i/dims); scaled as each rule says.
    void rotaryAnglesUnderEachScaling() {
        ModelConfig c;
        c.rotary_dims = 4;
        c.rotary_base = 10000.0; // inv_freq = [1, 0.01]
        at::Tensor inv_freq = rotary::inverse_frequencies(c);
        QCOMPARE(inv_freq[0].item<float>(), 1.0f);
        QVERIFY(std::abs(inv_freq[1].item<double>() - 0.01) < 1e-9);
        rotary::Angles a = rotary::angles(c, inv_freq, 6, 1); // position 6
        QVERIFY(std::abs(angle_cos(a, 0, 0) - std::cos(6.0)) < 1e-6);
        QVERIFY(std::abs(angle_cos(a, 0, 1) - std::cos(0.06)) < 1e-6);
        QVERIFY(std::abs(angle_cos(a, 0, 2) - std::cos(6.0)) < 1e-6); // rotate-half: pairs (i, i + dims/2)

        c.rope_scaling = "linear";
        c.rope_factor = 2.0; // position 6 is read as 3
        a = rotary::angles(c, inv_freq, 6, 1);
        QVERIFY(std::abs(angle_cos(a, 0, 0) - std::cos(3.0)) < 1e-6);
        QVERIFY(std::abs(a.sin[0][0][0][1].item<double>() - std::sin(0.03)) < 1e-6);
        // One position rotated by the kernel equals the tensor ops over several positions.
        const at::Tensor x = at::randn({1, 3, 2, 4});
        const rotary::Angles three = rotary::angles(c, inv_freq, 4, 3);
        HS_COMPARE_TENSORS(rotary::apply(x.slice(1, 2), a), rotary::apply(x, three).slice(1, 2), "one position");

        // llama3 with an original context of 1000, factors low 1 / high 4, factor 8:
        // wavelength 2π (< 250) keeps its frequency; 2π/0.01 = 628.3 (between 250 and
        // 1000) is interpolated: smooth = (1000/628.32 - 1) / 3 = 0.19718, so
        // 0.80282 · 0.01/8 + 0.19718 · 0.01 = 0.0029754.
        c.rope_scaling = "llama3";
        c.rope_factor = 8.0;
        c.rope_original_context = 1000;
        c.rope_low_freq_factor = 1.0;
        c.rope_high_freq_factor = 4.0;
        inv_freq = rotary::inverse_frequencies(c);
        QCOMPARE(inv_freq[0].item<float>(), 1.0f);
        QVERIFY2(std::abs(inv_freq[1].item<double>() - 0.0029754) < 1e-6,
                 qPrintable(QString::number(inv_freq[1].item<double>(), 'g', 8)));
        c.rotary_base = 1e6; // inv_freq [1, 0.001]: wavelength 6283 > 1000 is divided by 8
        inv_freq = rotary::inverse_frequencies(c);
        QVERIFY(std::abs(inv_freq[1].item<double>() - 0.000125) < 1e-9);

        // Config: both key spellings; unsupported types refused with a clear message.
        const auto config = [](const json& scaling) {
            return json{{"model_type", "llama"},  {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                        {"hidden_size", 8},       {"intermediate_size", 8}, {"vocab_size", 8},
                        {"rope_scaling", scaling}}
                .dump();
        };
        QCOMPARE(parse_model_config(config({{"type", "linear"}, {"factor", 4.0}}), "c").rope_factor, 4.0);
        const ModelConfig llama3 = parse_model_config(config({{"rope_type", "llama3"},
                                                              {"factor", 8.0},
                                                              {"low_freq_factor", 1.0},
                                                              {"high_freq_factor", 4.0},
                                                              {"original_max_position_embeddings", 8192}}),
                                                      "c");
        QCOMPARE(llama3.rope_scaling, std::string("llama3"));
        QCOMPARE(llama3.rope_original_context, 8192);
        for (const char* type : {"dynamic", "yarn"}) {
            const QString message = error_of([&] {
                parse_model_config(config({{"type", type}, {"factor", 2.0}}), "c");
            });
            QVERIFY2(message.contains(type) && message.contains("not supported"), qPrintable(message));
        }
    }
};

HOOKSCOPE_LEVEL_TEST_MAIN(TestRotary)

} // namespace tst_rotary
#include "tst_rotary.moc"
