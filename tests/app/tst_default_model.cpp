// The bundled default model (resources/models/kjv-gpt2): what it is, that the app finds
// it without --model, and the circuits its model card promises, measured as
// `hookscope heads` measures them.

#include "bridge/analysis/head_scores.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/text/tokenizer.h"
#include "support/test_main.h"

#include <QImage>
#include <QProcess>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace tst_default_model {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(HOOKSCOPE_SOURCE_DIR) / "resources" / "models" / "kjv-gpt2";

double best(const std::vector<std::vector<double>>& table) {
    double m = 0;
    for (const auto& layer : table)
        m = std::max(m, *std::max_element(layer.begin(), layer.end()));
    return m;
}

} // namespace

class TestDefaultModel : public QObject {
    Q_OBJECT

private slots:
    // Hugging Face's GPT-2 format: what GPT2LMHeadModel.from_pretrained reads.
    void isAHuggingFaceGpt2() {
        const auto config = nlohmann::json::parse(std::ifstream(kModel / "config.json"));
        QCOMPARE(config["model_type"].get<std::string>(), std::string("gpt2"));
        QCOMPARE(config["architectures"], nlohmann::json::array({"GPT2LMHeadModel"}));
        QCOMPARE(config["vocab_size"].get<int>(), 4096);
        QCOMPARE(config["bos_token_id"].get<int>(), config["eos_token_id"].get<int>());

        QVERIFY(fs::file_size(kModel / "model.safetensors") <= 30u * 1000 * 1000);
        const auto file = SafetensorsFile::open(kModel / "model.safetensors");
        QCOMPARE(file->metadata().at("format"), std::string("pt"));
        const auto model = Model::load(kModel);
        QCOMPARE(model->config().model_type, std::string("gpt2"));
        QCOMPARE(model->config().d_vocab, int64_t(4096));
        for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "README.md"})
            QVERIFY2(fs::exists(kModel / f), f);
    }

    // A vocabulary fitted to the King James text: verses round-trip and take about a
    // token per word.
    void tokenizerFitsTheText() {
        const Tokenizer tokenizer = Tokenizer::load(kModel);
        const std::string verse = "And God said, Let there be light: and there was light.";
        const std::vector<int64_t> ids = tokenizer.encode(verse);
        QCOMPARE(tokenizer.decode(ids), verse);
        QVERIFY2(ids.size() <= 14, qPrintable(QString::number(ids.size()))); // 11 words, 3 punctuation marks
    }

    // What the model card states, with its lower bounds: a previous-token head in layer 0
    // (>= 0.5; measured 0.969, layer 0 head 5) and induction heads in layer 1 (>= 0.4;
    // measured 0.759, every layer-1 head at 0.445 or more).
    void hasInductionAndPreviousTokenHeads() {
        const HeadScores s = head_scores(*Model::load(kModel));
        QCOMPARE(s.sequence_length, int64_t(50));
        qInfo("best induction %.3f, previous-token %.3f, duplicate-token %.3f", best(s.induction),
              best(s.previous_token), best(s.duplicate_token));
        QVERIFY(best(s.induction) >= 0.4);
        QVERIFY(s.previous_token[0][5] >= 0.5);
        for (double v : s.induction[1]) // every layer-1 head copies
            QVERIFY(v >= 0.4);
    }

    // Without --model, the command line uses it.
    void isTheDefault() {
        QProcess p;
        p.start(HOOKSCOPE_BINARY, {"hooks", "--json"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
        QCOMPARE(j["hooks"].back()["name"].get<std::string>(), std::string("unembed.hook_out"));
        QCOMPARE(j["hooks"].back()["shape"].back().get<int>(), 4096);
    }

    // Without --model, the window opens it with the example prompt and generates.
    void theWindowStartsOnIt() {
        QTemporaryDir dir;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "offscreen");
        env.insert("XDG_CONFIG_HOME", dir.filePath("config"));
        QProcess p;
        p.setProcessEnvironment(env);
        p.start(HOOKSCOPE_BINARY, {"--screenshot", dir.filePath("shot.png"), "--max-new-tokens", "4"});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        QVERIFY(QImage(dir.filePath("shot.png")).size() == QSize(1600, 1000));
        const QSettings settings(dir.filePath("config/HookScope/HookScope.conf"), QSettings::IniFormat);
        const QStringList recent = settings.value("models/recent").toStringList();
        QVERIFY2(!recent.isEmpty() && recent.front().endsWith("kjv-gpt2"), qPrintable(recent.join(' ')));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestDefaultModel)

} // namespace tst_default_model
#include "tst_default_model.moc"
