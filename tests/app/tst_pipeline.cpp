// `hookscope run` and `generate` with --pipeline: the blocks split over 2 or 3 ranks
// (processes on this machine joined over 127.0.0.1), against the same command in one
// process: exports within 1e-5 (the same ops in the same order; the residual stream
// crosses the ranks as raw float32 bytes), generated tokens exact, each rank's memory
// within its stage's bound, and runs that stop: a rank killed mid-run, one never
// started, more ranks than blocks.

#include "bridge/model/safetensors.h"
#include "support/random_checkpoint.h"
#include "support/ranks.h"
#include "support/test_main.h"

#include <QElapsedTimer>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace tst_pipeline {

using namespace hookscope;
using namespace hookscope::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const QString kGolden = QString(HOOKSCOPE_FIXTURES) + "/golden/";
constexpr int kSmallTimeout = 4; // --dist-timeout of the runs where a rank stops, in seconds

QString path_text(const fs::path& path) {
    return QString::fromStdString(path.string());
}

// Every tensor of `actual` equals `expected`'s under the same name within 1e-5 (NaN
// fails), the
// names are the same, and so are the token ids and the model fingerprint.
void require_same_export(const fs::path& actual, const fs::path& expected) {
    QVERIFY2(fs::exists(actual), actual.c_str());
    const auto a = SafetensorsFile::open(actual);
    const auto e = SafetensorsFile::open(expected);
    QCOMPARE(a->metadata().at("token_ids"), e->metadata().at("token_ids"));
    QCOMPARE(a->metadata().at("model_fingerprint"), e->metadata().at("model_fingerprint"));
    std::vector<std::string> names_a, names_e;
    for (const TensorInfo& info : a->tensors())
        names_a.push_back(info.name);
    for (const TensorInfo& info : e->tensors())
        names_e.push_back(info.name);
    QCOMPARE(names_a, names_e);
    double largest = 0;
    for (const std::string& name : names_e) {
        const at::Tensor x = a->tensor(name).to(at::kDouble), y = e->tensor(name).to(at::kDouble);
        QCOMPARE(x.sizes().vec(), y.sizes().vec());
        // Equal entries count as no difference: the masked attention scores are -inf in both.
        const at::Tensor differences = at::where(x == y, at::zeros_like(x), (x - y).abs());
        const double diff = x.numel() ? differences.max().item<double>() : 0.0;
        largest = std::max(largest, diff);
        QVERIFY2(diff <= 1e-5, qPrintable(QString("%1 differs by %2").arg(name.c_str()).arg(diff)));
    }
    qInfo("%zu tensors, max |diff| = %.3g", names_e.size(), largest);
}

// The one line HOOKSCOPE_REPORT_MEMORY=1 makes a rank print: before_load, stage_weights, peak.
std::array<double, 3> memory_of(const QString& err) {
    const QRegularExpression line("memory: before_load (\\d+) stage_weights (\\d+) peak (\\d+)");
    const auto match = line.match(err);
    if (!match.hasMatch()) return {-1, -1, -1};
    return {match.captured(1).toDouble(), match.captured(2).toDouble(), match.captured(3).toDouble()};
}

} // namespace

class TestPipeline : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }

    // A GPT-2 of 4 blocks (random weights): 3 ranks hold 2, 1 and 1 of them.
    QString deep_gpt2() {
        const fs::path folder = dir() / "deep-gpt2";
        if (fs::exists(folder / "model.safetensors")) return path_text(folder);
        return path_text(write_random_gpt2(folder, gpt2_shape(4, 2, 32, 256, 97), 5));
    }

    // `args` in one process, then over `world` ranks (export named in each).
    void run_both(const QStringList& args, const QString& name, int world, CliResult& one,
                  std::map<int, CliResult>& ranks) {
        const QString alone = path_text(dir() / (name + "-one.safetensors").toStdString());
        const QString split = path_text(dir() / (name + "-split.safetensors").toStdString());
        one = run_hookscope(args + QStringList{"--threads", "1", "--export", alone}, launch_free_env());
        QVERIFY2(one.code == 0, qPrintable(one.err));
        Ranks run(world, args + QStringList{"--pipeline", "--export", split});
        ranks = run.finish();
        for (const auto& [rank, r] : ranks) {
            QVERIFY2(r.code == 0, qPrintable(all_errors(ranks)));
            if (rank != 0) QVERIFY2(r.out.isEmpty(), qPrintable(r.out)); // only rank 0 prints
        }
        require_same_export(split.toStdString(), alone.toStdString());
    }

    void models_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("world");
        for (const char* name : {"gpt2-tiny", "pythia-tiny", "llama-tiny"})
            QTest::addRow("%s over 2", name) << kGolden + name << 2;
        QTest::newRow("gpt2 of 4 blocks over 3") << deep_gpt2() << 3;
    }

private slots:
    void runEqualsOneProcess_data() { models_data(); }
    // Logits and every hook point.
    void runEqualsOneProcess() {
        QFETCH(QString, model);
        QFETCH(int, world);
        CliResult one;
        std::map<int, CliResult> ranks;
        run_both({"run", "--model", model, "--tokens", "1,5,9,2,7,3"}, QTest::currentDataTag(), world, one, ranks);
        QCOMPARE(ranks[0].out.replace("-split", "-one"), one.out);
    }

    // Each rank applies the interventions at its own hook points (block 0 on rank 0,
    // block 1 on rank 1), means included.
    void interventionsApplyOnTheRankOfTheirHookPoint() {
        CliResult one;
        std::map<int, CliResult> ranks;
        run_both({"run", "--model", kGolden + "gpt2-tiny", "--tokens", "1,5,9,2,7,3", "--intervene",
                  "blocks.0.attn.hook_z@1=zero", "--intervene", "blocks.1.hook_mlp_out=mean"},
                 "interventions", 2, one, ranks);
    }

    void generateEqualsOneProcess_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("world");
        QTest::addColumn<QStringList>("sampling");
        for (const char* name : {"gpt2-tiny", "pythia-tiny", "llama-tiny"}) {
            QTest::addRow("%s over 2, greedy", name) << kGolden + name << 2 << QStringList{"--greedy"};
            QTest::addRow("%s over 2, sampled", name) << kGolden + name << 2 << QStringList{"--seed", "13"};
        }
        QTest::newRow("gpt2 of 4 blocks over 3, greedy") << deep_gpt2() << 3 << QStringList{"--greedy"};
        QTest::newRow("gpt2 of 4 blocks over 3, sampled")
            << deep_gpt2() << 3 << QStringList{"--seed", "21", "--top-k", "20"};
    }

    // The same tokens, log-probabilities and return_cache export.
    void generateEqualsOneProcess() {
        QFETCH(QString, model);
        QFETCH(int, world);
        QFETCH(QStringList, sampling);
        CliResult one;
        std::map<int, CliResult> ranks;
        run_both(QStringList{"generate", "--model", model, "--tokens", "1,5,9,2", "--max-new-tokens", "12", "--json"} +
                     sampling,
                 QTest::currentDataTag(), world, one, ranks);
        const json a = json::parse(ranks[0].out.toStdString()), e = json::parse(one.out.toStdString());
        QCOMPARE(a["tokens"], e["tokens"]);
        QCOMPARE(a["seed"], e["seed"]);
        QCOMPARE(a["cache_keys"], e["cache_keys"]);
        QCOMPARE(a["logprobs"].size(), e["logprobs"].size());
        for (std::size_t k = 0; k < e["logprobs"].size(); ++k) {
            QCOMPARE(a["logprobs"][k]["id"], e["logprobs"][k]["id"]);
            QVERIFY(std::abs(a["logprobs"][k]["logprob"].get<double>() - e["logprobs"][k]["logprob"].get<double>()) <
                    1e-5);
        }
    }

    // With one process, --pipeline is today's run: the same export, byte for byte.
    void aPipelineOfOneIsOneProcess() {
        const QString alone = path_text(dir() / "alone.safetensors"), piped = path_text(dir() / "piped.safetensors");
        const QStringList args{"run", "--model", kGolden + "gpt2-tiny", "--tokens", "1,5,9", "--threads", "1"};
        QCOMPARE(run_hookscope(args + QStringList{"--export", alone}, launch_free_env()).code, 0);
        const CliResult r =
            run_hookscope(args + QStringList{"--export", piped, "--pipeline", "--world-size", "1"}, launch_free_env());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile a(alone), b(piped);
        QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
        QCOMPARE(a.readAll(), b.readAll());
    }

    // Each rank's peak resident memory stays within its resident memory before loading
    // + 1.1 x its stage's weights + 64 MB, on a checkpoint of several hundred MB
    // written here (and deleted): a rank reads only its stage's share of the file.
    void eachRankHoldsOnlyItsStage() {
        const train::ModelShape shape = gpt2_shape(8, 16, 1024, 128, 4096);
        const fs::path folder = write_random_gpt2(dir() / "large-gpt2", shape, 3);
        const auto file_bytes = static_cast<double>(fs::file_size(folder / "model.safetensors"));
        QVERIFY(file_bytes > 400e6);
        QProcessEnvironment env = launch_free_env();
        env.insert("HOOKSCOPE_REPORT_MEMORY", "1");
        // The whole context: each stage's forward then takes long enough that the other
        // rank waits on a transfer for a good part of a second.
        QString tokens = "1";
        for (int t = 2; t <= shape.context; ++t)
            tokens += "," + QString::number(t);
        Ranks run(2,
                  {"run", "--model", path_text(folder), "--tokens", tokens, "--names-filter", "blocks.*.hook_resid_pre",
                   "--export", path_text(dir() / "large.safetensors"), "--pipeline"},
                  60, {}, env);
        const std::map<int, CliResult> results = run.finish();
        fs::remove_all(folder);
        for (const auto& [rank, r] : results) {
            QVERIFY2(r.code == 0, qPrintable(all_errors(results)));
            const auto [before, weights, peak] = memory_of(r.err);
            QVERIFY2(before > 0 && weights > 0 && peak > 0, qPrintable(r.err));
            const double bound = before + 1.1 * weights + 64e6;
            qInfo("rank %d: before loading %.0f MB, stage weights %.0f MB, peak %.0f MB (bound %.0f MB)", rank,
                  before / 1e6, weights / 1e6, peak / 1e6, bound / 1e6);
            QVERIFY2(weights < 0.6 * file_bytes, qPrintable(r.err)); // about half the blocks
            QVERIFY2(peak <= bound, qPrintable(r.err));
        }
    }

    void moreRanksThanBlocksAreRefused() {
        Ranks run(3,
                  {"run", "--model", kGolden + "gpt2-tiny", "--tokens", "1,2", "--export",
                   path_text(dir() / "never.safetensors"), "--pipeline"},
                  kSmallTimeout);
        for (const auto& [rank, r] : run.finish()) {
            QCOMPARE(r.code, 2);
            QVERIFY2(r.err.contains("3 pipeline stages") && r.err.contains("2 blocks"), qPrintable(r.err));
        }
        QVERIFY(!fs::exists(dir() / "never.safetensors"));
    }

    void launchFlagsNeedPipeline() {
        const CliResult r = run_hookscope({"run", "--model", kGolden + "gpt2-tiny", "--tokens", "1,2", "--export",
                                           path_text(dir() / "x.safetensors"), "--world-size", "2"},
                                          launch_free_env());
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--pipeline"), qPrintable(r.err));
    }

    // Rank 1 of 3 killed as soon as rank 0 streams its first token, in a generation
    // that cannot end before it: no EOS, 2000 new tokens wanted (as many as the context
    // holds). Ranks 0 and 2 end with an error naming rank 1 within the timeout, and
    // neither the export nor its temporary file is left behind.
    void aKilledRankStopsTheOthersNamingIt() {
        const fs::path folder = dir() / "endless-gpt2";
        write_random_gpt2(folder, gpt2_shape(4, 2, 32, 2048, 97), 5);
        json config = json::parse(std::ifstream(folder / "config.json"));
        config.erase("eos_token_id"); // no token ends the generation
        std::ofstream(folder / "config.json") << config.dump();

        const fs::path out = dir() / "killed.safetensors";
        Ranks run(3,
                  {"generate", "--model", path_text(folder), "--tokens", "1,2,3", "--max-new-tokens", "2000",
                   "--greedy", "--names-filter", "blocks.*.hook_resid_pre", "--export", path_text(out), "--pipeline"},
                  kSmallTimeout);
        QProcess& first = run.process(0);
        QElapsedTimer waited;
        waited.start();
        while (first.bytesAvailable() == 0 && first.state() != QProcess::NotRunning && waited.elapsed() < 60000)
            first.waitForReadyRead(100);
        QVERIFY2(first.bytesAvailable() > 0, "rank 0 streamed no token");
        QElapsedTimer clock;
        clock.start();
        run.process(1).kill();
        const std::map<int, CliResult> results = run.finish();
        QVERIFY2(clock.elapsed() < (kSmallTimeout + 5) * 1000, qPrintable(QString::number(clock.elapsed())));
        for (const int rank : {0, 2}) {
            const CliResult& r = results.at(rank);
            QVERIFY2(r.code > 0 && r.err.contains("rank 1"), qPrintable(all_errors(results)));
            QVERIFY2(!r.err.contains("new tokens, stop:"), qPrintable(all_errors(results)));
        }
        QVERIFY(!fs::exists(out));
        // The export writer's temporary file is `.killed.safetensors.tmp-XXXXXX`.
        const std::string temporary = "." + out.filename().string() + ".tmp-";
        for (const auto& entry : fs::directory_iterator(dir()))
            QVERIFY2(!entry.path().filename().string().starts_with(temporary), entry.path().c_str());
    }

    // Rank 1 of 2 never starts: rank 0 stops naming it within the timeout.
    void aRankNeverStartedIsNamed() {
        const fs::path out = dir() / "never-started.safetensors";
        Ranks run(
            2, {"run", "--model", kGolden + "gpt2-tiny", "--tokens", "1,2", "--export", path_text(out), "--pipeline"},
            kSmallTimeout, {0});
        const CliResult r = run.finish().at(0);
        QVERIFY2(r.code != 0 && r.err.contains("rank 1"), qPrintable(r.err));
        QVERIFY(!fs::exists(out));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestPipeline)

} // namespace tst_pipeline
#include "tst_pipeline.moc"
