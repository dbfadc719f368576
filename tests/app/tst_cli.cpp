// The `hookscope` command line, run as a user runs it: exit codes, stdout, stderr.

#include "bridge/safetensors.h"
#include "support/tensor_compare.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const QString kGpt2 = QString(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny";
const QString kGoldenTokens = "0,17,42,99,128,255,256,300,411,500,7,511";

struct Result {
    int code = -1;
    QString out, err;
};

Result run_hookscope(const QStringList& args) {
    QProcess p;
    p.start(HOOKSCOPE_BINARY, args);
    if (!p.waitForFinished(120000)) return {};
    Result r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2; // -2: crashed
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void helpAndVersion() {
        const Result help = run_hookscope({"--help"});
        QCOMPARE(help.code, 0);
        QVERIFY(help.out.contains("hookscope hooks"));
        QVERIFY(help.out.contains("--names-filter"));
        const Result version = run_hookscope({"--version"});
        QCOMPARE(version.code, 0);
        QCOMPARE(version.out.trimmed(), QString("hookscope ") + HOOKSCOPE_VERSION);
        QCOMPARE(run_hookscope({"run", "--help"}).code, 0);
    }

    void hooksJson() {
        const Result r = run_hookscope(
            {"hooks", "--model", kGpt2, "--names-filter", "blocks.0.attn.hook_pattern,unembed.*", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        const auto expected = nlohmann::json::parse(R"({"hooks": [
            {"name": "blocks.0.attn.hook_pattern", "shape": [1, "H=4", "pos", "pos"]},
            {"name": "unembed.hook_in", "shape": [1, "pos", 64]},
            {"name": "unembed.hook_out", "shape": [1, "pos", 512]}]})");
        QCOMPARE(j.dump(), expected.dump());
    }

    void hooksText() {
        const Result r = run_hookscope({"hooks", "--model=" + kGpt2});
        QCOMPARE(r.code, 0);
        const QStringList lines = r.out.trimmed().split('\n');
        QCOMPARE(lines.size(), 2 + 2 * 17 + 4);
        QVERIFY(lines.first().startsWith("hook_embed "));
        QVERIFY(lines.last().startsWith("unembed.hook_out "));
        QVERIFY(lines.last().endsWith("[1, pos, 512]"));
    }

    void runExportsWhatTheFilterSelects() {
        const QString file = dir_.filePath("run.safetensors");
        const Result r = run_hookscope({"run", "--model", kGpt2, "--tokens", kGoldenTokens, "--names-filter",
                                        "/hook_resid_pre$/, unembed.hook_out", "--export", file, "--threads", "1"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("captured 3 hook points over 12 positions"), qPrintable(r.out));
        const auto exported = SafetensorsFile::open(file.toStdString());
        const auto golden = SafetensorsFile::open((kGpt2 + "/golden.safetensors").toStdString());
        QCOMPARE(exported->tensors().size(), std::size_t(3));
        HS_COMPARE_TENSORS(exported->tensor("unembed.hook_out"), golden->tensor("logits"), "exported logits");
        HS_COMPARE_TENSORS(exported->tensor("blocks.1.hook_resid_pre"), golden->tensor("hidden_states.1"),
                           "exported resid_pre 1");
        QCOMPARE(exported->metadata().at("token_ids"), "[0,17,42,99,128,255,256,300,411,500,7,511]");

        const Result inspect = run_hookscope({"inspect", file, "--json"});
        QCOMPARE(inspect.code, 0);
        const auto j = nlohmann::json::parse(inspect.out.toStdString());
        QCOMPARE(j["metadata"]["format"].get<std::string>(), "hookscope.activation_cache.v1");
        QCOMPARE(j["tensors"].size(), std::size_t(3));
        QCOMPARE(j["tensors"][0]["name"].get<std::string>(), "blocks.0.hook_resid_pre");
        QCOMPARE(j["tensors"][0]["dtype"].get<std::string>(), "F32");
        QCOMPARE(j["tensors"][0]["shape"].dump(), "[1,12,64]");
    }

    void usageErrorsExitWithTwo_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("error");
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command `frobnicate`";
        QTest::newRow("unknown option") << QStringList{"hooks", "--modle", "x"} << "unknown option --modle";
        QTest::newRow("missing value") << QStringList{"hooks", "--model"} << "option --model needs a value";
        QTest::newRow("run without tokens")
            << QStringList{"run", "--model", kGpt2, "--export", "x.safetensors"} << "`run` needs --tokens";
        QTest::newRow("bad token id") << QStringList{"run", "--model", kGpt2, "--tokens", "1,x", "--export", "y"}
                                      << "token id `x` is not a non-negative integer";
        QTest::newRow("bad threads") << QStringList{"hooks", "--model", kGpt2, "--threads", "0"}
                                     << "--threads needs a positive integer";
        QTest::newRow("inspect without file") << QStringList{"inspect"} << "`inspect` needs a FILE";
    }

    void usageErrorsExitWithTwo() {
        QFETCH(QStringList, args);
        QFETCH(QString, error);
        const Result r = run_hookscope(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(error), qPrintable(r.err));
        QVERIFY(r.out.isEmpty());
    }

    void inputErrorsExitWithOne_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("error");
        QTest::newRow("no model") << QStringList{"hooks"} << "pass --model";
        QTest::newRow("model not a folder") << QStringList{"hooks", "--model", "/no/such/model"} << "is not a folder";
        QTest::newRow("token outside vocabulary")
            << QStringList{"run", "--model", kGpt2, "--tokens", "1,999", "--export", dir_.filePath("z.safetensors")}
            << "token id 999 at position 1 is outside the vocabulary";
        QTest::newRow("malformed filter") << QStringList{"hooks", "--model", kGpt2, "--names-filter", "/resid("}
                                          << "regular expression has no closing";
        QTest::newRow("inspect a non-safetensors file")
            << QStringList{"inspect", kGpt2 + "/config.json"} << "config.json: header length";
        QTest::newRow("inspect an npz export")
            << QStringList{"inspect", dir_.filePath("cache.npz")} << "`inspect` reads safetensors exports";
        QTest::newRow("export into a missing folder")
            << QStringList{"run", "--model", kGpt2, "--tokens", "1", "--export", dir_.filePath("no/dir/x.safetensors")}
            << "cannot write";
    }

    void inputErrorsExitWithOne() {
        QFETCH(QStringList, args);
        QFETCH(QString, error);
        const Result r = run_hookscope(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.startsWith("hookscope: "), qPrintable(r.err));
        QVERIFY2(r.err.contains(error), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
