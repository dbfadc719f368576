// Names filter grammar and hook point names.

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/model_config.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/token_ids.h"
#include "support/test_main.h"

#include <QtTest>

#include <fstream>
#include <sstream>

namespace tst_names_filter {

using namespace hookscope;

namespace {

ModelConfig gpt2_tiny() {
    std::ifstream in(std::string(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny/config.json");
    std::stringstream text;
    text << in.rdbuf();
    return parse_model_config(text.str(), "config.json");
}

std::vector<std::string> selected(const std::string& filter) {
    const NamesFilter f(filter);
    std::vector<std::string> out;
    for (const HookInfo& info : hook_points_for(gpt2_tiny())) {
        if (f.matches(info.name)) out.push_back(info.name);
    }
    return out;
}

using Names = std::vector<std::string>;

} // namespace

} // namespace tst_names_filter

// Qt's type registration specialises a template of the global namespace.
Q_DECLARE_METATYPE(tst_names_filter::Names)

namespace tst_names_filter {

class TestNamesFilter : public QObject {
    Q_OBJECT

private slots:
    void shapesAreWrittenWithPositionsAsPos() {
        QCOMPARE(shape_text(std::vector<int64_t>{1, -1, 768}), std::string("[1, pos, 768]"));
        QCOMPARE(shape_text(std::vector<int64_t>{}), std::string("[]"));
        QCOMPARE(shape_text(std::vector<std::string>{"1", "pos", "H=12", "64"}), std::string("[1, pos, H=12, 64]"));
    }

    void tokenIdsParseAndFitTheVocabulary() {
        QCOMPARE(parse_token_ids("50256, 464 2068,\t13\n"), (std::vector<int64_t>{50256, 464, 2068, 13}));
        QCOMPARE(parse_token_ids(" , "), std::vector<int64_t>{});
        const auto error = [](auto&& f) {
            try {
                f();
            } catch (const InputError& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        QCOMPARE(error([] { parse_token_ids("1,x"); }), std::string("token id `x` is not a non-negative integer"));
        QCOMPARE(error([] { parse_token_ids("-3"); }), std::string("token id `-3` is not a non-negative integer"));
        QCOMPARE(error([] { parse_token_ids("1.5"); }), std::string("token id `1.5` is not a non-negative integer"));
        QCOMPARE(error([] { parse_token_ids("99999999999999999999"); }),
                 std::string("token id `99999999999999999999` is not a non-negative integer"));
        const std::vector<int64_t> ids{0, 7, 8};
        QCOMPARE(error([&] { check_token_ids(ids, 8); }),
                 std::string("token id 8 at position 2 is outside the vocabulary (0 to 7)"));
        QCOMPARE(error([&] { check_token_ids(ids, 9); }), std::string("no error"));
        QCOMPARE(error([] { check_token_id(-1, 8, "target token"); }),
                 std::string("target token -1 is outside the vocabulary (0 to 7)"));
    }

    void hookPointsRoundTrip() {
        for (const HookInfo& info : hook_points_for(gpt2_tiny())) {
            const auto parsed = HookPoint::parse(info.name);
            QVERIFY2(parsed.has_value(), info.name.c_str());
            QVERIFY(*parsed == info.point);
            QCOMPARE(parsed->to_string(), info.name);
        }
        QCOMPARE(HookPoint::block(Site::AttnRotK, 11).to_string(), "blocks.11.attn.hook_rot_k");
        QVERIFY(HookPoint::parse("blocks.11.attn.hook_rot_k") == HookPoint::block(Site::AttnRotK, 11));
        QCOMPARE(HookPoint::parse("ln_final.hook_scale")->site, Site::LnFinalScale);
        for (const char* bad : {"blocks.0.hook_embed", "hook_resid_pre", "blocks..hook_resid_pre", "blocks.01.hook_z",
                                "blocks.-1.hook_resid_pre", "blocks.0.attn.hook_nope", "blocks.0", ""}) {
            QVERIFY2(!HookPoint::parse(bad).has_value(), bad);
        }
    }

    void gpt2HookTableOrder() {
        const auto points = hook_points_for(gpt2_tiny());
        const Names first_block{"hook_embed",
                                "hook_pos_embed",
                                "blocks.0.hook_resid_pre",
                                "blocks.0.ln1.hook_scale",
                                "blocks.0.ln1.hook_normalized",
                                "blocks.0.attn.hook_q",
                                "blocks.0.attn.hook_k",
                                "blocks.0.attn.hook_v",
                                "blocks.0.attn.hook_attn_scores",
                                "blocks.0.attn.hook_pattern",
                                "blocks.0.attn.hook_z",
                                "blocks.0.hook_attn_out",
                                "blocks.0.hook_resid_mid",
                                "blocks.0.ln2.hook_scale",
                                "blocks.0.ln2.hook_normalized",
                                "blocks.0.mlp.hook_pre",
                                "blocks.0.mlp.hook_post",
                                "blocks.0.hook_mlp_out",
                                "blocks.0.hook_resid_post"};
        for (std::size_t i = 0; i < first_block.size(); ++i)
            QCOMPARE(points[i].name, first_block[i]);
        const Names tail{"ln_final.hook_scale", "ln_final.hook_normalized", "unembed.hook_in", "unembed.hook_out"};
        for (std::size_t i = 0; i < tail.size(); ++i)
            QCOMPARE(points[points.size() - 4 + i].name, tail[i]);
        QCOMPARE(concrete_shape(points[9], 7), (std::vector<int64_t>{1, 4, 7, 7})); // attn pattern
        QCOMPARE(concrete_shape(points.back(), 7), (std::vector<int64_t>{1, 7, 512}));
    }

    void selects_data() {
        QTest::addColumn<QString>("filter");
        QTest::addColumn<Names>("expected");
        QTest::newRow("exact") << "blocks.0.hook_resid_pre" << Names{"blocks.0.hook_resid_pre"};
        QTest::newRow("exact, spaces trimmed") << "  hook_embed  " << Names{"hook_embed"};
        QTest::newRow("glob over the whole name")
            << "blocks.*.attn.hook_pattern" << Names{"blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"};
        QTest::newRow("star crosses dots") << "*hook_resid_p*"
                                           << Names{"blocks.0.hook_resid_pre", "blocks.0.hook_resid_post",
                                                    "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"};
        QTest::newRow("glob must match the whole name") << "hook_resid_pre" << Names{};
        QTest::newRow("question mark is one character") << "blocks.?.ln?.hook_scale"
                                                        << Names{"blocks.0.ln1.hook_scale", "blocks.0.ln2.hook_scale",
                                                                 "blocks.1.ln1.hook_scale", "blocks.1.ln2.hook_scale"};
        QTest::newRow("list in hook order, not list order")
            << "unembed.hook_out, hook_embed" << Names{"hook_embed", "unembed.hook_out"};
        QTest::newRow("regex searched anywhere") << "/resid_(pre|post)$/"
                                                 << Names{"blocks.0.hook_resid_pre", "blocks.0.hook_resid_post",
                                                          "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"};
        QTest::newRow("regex anchored") << "/^blocks\\.1\\.attn\\.hook_[qkv]$/"
                                        << Names{"blocks.1.attn.hook_q", "blocks.1.attn.hook_k",
                                                 "blocks.1.attn.hook_v"};
        QTest::newRow("comma inside a regex")
            << "/^blocks\\.[0-9]{1,2}\\.hook_mlp_out$/" << Names{"blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"};
        QTest::newRow("regex and glob together")
            << " /ln_final/ , blocks.1.hook_resid_post"
            << Names{"blocks.1.hook_resid_post", "ln_final.hook_scale", "ln_final.hook_normalized"};
        QTest::newRow("no match") << "blocks.7.*" << Names{};
        QTest::newRow("regex after a newline keeps its comma")
            << "hook_embed,\n/^ln_final\\.hook_[a-z]{5,10}$/"
            << Names{"hook_embed", "ln_final.hook_scale", "ln_final.hook_normalized"};
        QTest::newRow("empty items ignored") << "hook_embed,, " << Names{"hook_embed"};
    }

    void selects() {
        QFETCH(QString, filter);
        QFETCH(Names, expected);
        QCOMPARE(selected(filter.toStdString()), expected);
    }

    void emptySelectsEverythingInOrder() {
        Names all;
        for (const HookInfo& info : hook_points_for(gpt2_tiny()))
            all.push_back(info.name);
        QCOMPARE(selected(""), all);
        QCOMPARE(selected("   "), all);
        QVERIFY(NamesFilter("  ").matches_everything());
        QVERIFY(!NamesFilter("x").matches_everything());
    }

    void malformedItemsAreErrors_data() {
        QTest::addColumn<QString>("filter");
        QTest::addColumn<QString>("message");
        QTest::newRow("unclosed regex") << "hook_embed, /resid_(pre"
                                        << "names filter item `/resid_(pre`: regular expression has no closing `/`";
        QTest::newRow("invalid regex") << "/resid_(pre/"
                                       << "names filter item `/resid_(pre/`: invalid regular expression";
        QTest::newRow("text after regex") << "/resid/x, hook_embed"
                                          << "names filter item `/resid/x`: text after the closing `/`";
        QTest::newRow("second slash inside") << "/resid/x/"
                                             << "names filter item `/resid/x/`: text after the closing `/`";
        QTest::newRow("lone slash") << "/"
                                    << "names filter item `/`: regular expression has no closing `/`";
    }

    void malformedItemsAreErrors() {
        QFETCH(QString, filter);
        QFETCH(QString, message);
        try {
            NamesFilter f(filter.toStdString());
            QFAIL("expected FilterError");
        } catch (const FilterError& e) {
            QVERIFY2(QString(e.what()).startsWith(message), e.what());
        }
    }

    void pathologicalRegexHitsTheMatchLimit() {
        const NamesFilter f("/(a+)+$/");
        QVERIFY(f.matches("aaaa"));
        QVERIFY_THROWS_EXCEPTION(FilterError, f.matches(std::string(40, 'a') + "!"));
    }

    // A filter of 10,000 items (half exact names, half regexes) parses and matches
    // every hook of a large model as it says; each item is checked once per name.
    void tenThousandItems() {
        std::string text;
        for (int i = 0; i < 5000; ++i) {
            text += "blocks." + std::to_string(i) + ".hook_resid_pre, ";
            text += "/^blocks\\." + std::to_string(i) + "\\.attn\\.hook_[qk]$/, ";
        }
        const NamesFilter f(text);
        QCOMPARE(f.items().size(), std::size_t(10000));
        int matched = 0;
        for (int layer = 0; layer < 80; ++layer) {
            for (const char* site :
                 {"hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "hook_resid_post"}) {
                matched += f.matches("blocks." + std::to_string(layer) + "." + site);
            }
        }
        QCOMPARE(matched, 80 * 3);
        QVERIFY(f.matches("blocks.4999.attn.hook_k"));
        QVERIFY(!f.matches("blocks.5000.hook_resid_pre"));
    }

    void globMatcher() {
        QVERIFY(glob_match("*", ""));
        QVERIFY(glob_match("a*b*c", "axxbyyc"));
        QVERIFY(!glob_match("a*b*c", "axxbyy"));
        QVERIFY(glob_match("??", "ab"));
        QVERIFY(!glob_match("?", ""));
        QVERIFY(glob_match("*.hook_z", "blocks.3.attn.hook_z"));
        QVERIFY(!glob_match("blocks.1*", "blocks.0.hook_z"));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestNamesFilter)

} // namespace tst_names_filter
#include "tst_names_filter.moc"
