// The byte-level BPE trainer: merges by hand on a tiny corpus, and a trained
// vocabulary written as files our tokenizer loads and round-trips.

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/text/tokenizer.h"
#include "support/test_main.h"
#include "trainer/bpe_trainer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

namespace tst_bpe_trainer {

using namespace hookscope;
namespace fs = std::filesystem;

class TestBpeTrainer : public QObject {
    Q_OBJECT

private slots:
    // Pieces "abab", " abab" x2, " ab": the pair (a, b) occurs 2 + 2x2 + 1 = 7 times and
    // is merged first. Then (ab, ab) and (Ġ, ab) both occur 3 times: the tie goes to the
    // byte-wise smaller left token, "ab" (Ġ is U+0120, two bytes from 0xC4). That leaves
    // [abab], [Ġ, abab] x2 and [Ġ, ab]: (Ġ, abab) occurs twice, then nothing does.
    void mergesTheMostFrequentPairFirst() {
        const BpeVocabulary v = train_byte_level_bpe("abab abab abab ab", 259, {});
        QCOMPARE(v.merges.size(), std::size_t(3));
        QCOMPARE(v.merges[0], (std::pair<std::string, std::string>{"a", "b"}));
        QCOMPARE(v.merges[1], (std::pair<std::string, std::string>{"ab", "ab"}));
        QCOMPARE(v.merges[2], (std::pair<std::string, std::string>{"\u0120", "abab"}));
        QCOMPARE(v.tokens.size(), std::size_t(259));
        QCOMPARE(v.tokens[256], std::string("ab"));
        QCOMPARE(v.tokens[258], std::string("\u0120abab"));
        // Nothing occurs twice any more: training stops short of a larger size.
        QCOMPARE(train_byte_level_bpe("abab abab abab ab", 400, {}).merges.size(), std::size_t(3));
        QVERIFY_THROWS_EXCEPTION(InputError, train_byte_level_bpe("x", 256, {"<|endoftext|>"}));
    }

    void trainedFilesLoadAndRoundTrip() {
        // 3,000 pseudo-words of 2 to 7 letters from a small alphabet (a fixed LCG): many
        // distinct words, with frequent pairs to merge.
        std::string corpus;
        uint32_t state = 1;
        const auto next = [&] { return (state = state * 1664525u + 1013904223u) >> 24; };
        for (int i = 0; i < 3000; ++i) {
            const unsigned length = 2 + next() % 6;
            for (unsigned k = 0; k < length; ++k)
                corpus += "etaoinshrdlu"[next() % 12];
            corpus += i % 12 == 11 ? ".\n" : " ";
        }
        const BpeVocabulary v = train_byte_level_bpe(corpus, 320, {"<|endoftext|>"});
        QCOMPARE(v.tokens.size(), std::size_t(320));
        QCOMPARE(v.tokens.back(), std::string("<|endoftext|>"));
        QCOMPARE(v.merges.size(), std::size_t(320 - 256 - 1));
        QCOMPARE(train_byte_level_bpe(corpus, 320, {"<|endoftext|>"}).merges, v.merges); // deterministic

        QTemporaryDir dir;
        const fs::path folder = dir.path().toStdString();
        write_bpe_tokenizer(folder, v, 256);
        for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"})
            QVERIFY2(fs::exists(folder / f), f);
        const Tokenizer t = Tokenizer::load(folder);
        const std::string sample = "And God said, Let there be light: and there was light.<|endoftext|> Zebra!";
        const std::vector<int64_t> ids = t.encode(sample);
        QCOMPARE(t.decode(ids), sample);
        QVERIFY(std::find(ids.begin(), ids.end(), 319) != ids.end()); // the special token, whole
        // The corpus compresses: 63 merges of its most frequent pairs save at least a fifth of
        // the tokens (measured: a third).
        const double ratio = static_cast<double>(t.encode(corpus).size()) / static_cast<double>(corpus.size());
        qInfo("tokens per byte: %.3f", ratio);
        QVERIFY(ratio < 0.8);

        // GPT-2's two-file form reads the same.
        fs::remove(folder / "tokenizer.json");
        const Tokenizer legacy = Tokenizer::load(folder);
        QCOMPARE(legacy.encode(sample), ids);
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestBpeTrainer)

} // namespace tst_bpe_trainer
#include "tst_bpe_trainer.moc"
