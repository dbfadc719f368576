// `hookscope collect` as several processes (ranks) on this machine, joined over
// 127.0.0.1 through c10d: rows bit for bit equal to one process, the manifest rank 0
// writes, a run whose rank is killed and its resume, and what is refused and named.

#include "bridge/formats/sha256.h"
#include "bridge/io/dataset.h"
#include "bridge/model/safetensors.h"
#include "support/cli_process.h"
#include "support/ranks.h"
#include "support/test_main.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

namespace tst_collect_dist {

using namespace hookscope;
using hookscope::test::all_errors;
using hookscope::test::CliResult;
using hookscope::test::finished;
using hookscope::test::free_port;
using hookscope::test::launch_free_env;
using hookscope::test::Ranks;
using hookscope::test::run_hookscope;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const QString kGpt2 = QString(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny";
const QString kFilter = "blocks.0.hook_resid_pre,blocks.1.attn.hook_z,blocks.0.ln2.hook_scale,ln_final.hook_normalized";
constexpr int kSmallTimeout = 4; // --dist-timeout of the runs where a rank stops, in seconds

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `count` prompts of random token ids (below `vocab`), `min_length` to `max_length` long, as .jsonl.
fs::path write_prompts(const fs::path& path, int count, int min_length, int max_length, int64_t vocab) {
    std::mt19937 random(7);
    std::string text;
    for (int k = 0; k < count; ++k) {
        std::vector<int64_t> ids(std::uniform_int_distribution<int>(min_length, max_length)(random));
        for (int64_t& id : ids)
            id = std::uniform_int_distribution<int64_t>(0, vocab - 1)(random);
        text += json{{"tokens", ids}}.dump() + "\n";
    }
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

QStringList collect_args(const QString& model, const fs::path& prompts, const fs::path& out, const QString& filter,
                         const QStringList& more) {
    return QStringList{"collect",
                       "--model",
                       model,
                       "--prompts",
                       QString::fromStdString(prompts.string()),
                       "--names-filter",
                       filter,
                       "--out",
                       QString::fromStdString(out.string())} +
           more;
}

// One prompt's rows in a dataset: every tensor of its shard narrowed to its tokens.
using PromptRows = std::map<std::string, at::Tensor>;

std::map<int64_t, PromptRows> rows_by_prompt(const fs::path& dir) {
    std::map<int64_t, PromptRows> prompts;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".safetensors") continue;
        const auto shard = SafetensorsFile::open(entry.path());
        const at::Tensor index = shard->tensor("prompt_index").clone();
        for (int64_t row = 0; row < index.numel();) {
            const int64_t prompt = index[row].item<int64_t>();
            int64_t end = row;
            while (end < index.numel() && index[end].item<int64_t>() == prompt)
                ++end;
            for (const TensorInfo& info : shard->tensors())
                prompts[prompt][info.name] = shard->tensor(info.name).narrow(0, row, end - row).clone();
            row = end;
        }
    }
    return prompts;
}

std::map<std::string, std::string> shard_bytes(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".safetensors") files[entry.path().filename()] = read_bytes(entry.path());
    }
    return files;
}

json manifest_of(const fs::path& dir) {
    return json::parse(read_bytes(dir / kManifestName));
}

} // namespace

class TestCollectDist : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }

    // gpt2-tiny over 40 prompts of 1 to 12 tokens, cut to 10, in batches of 2.
    fs::path tiny_prompts() const { return write_prompts(dir() / "tiny.jsonl", 40, 1, 12, 512); }
    QStringList tiny_args(const fs::path& out) const {
        return collect_args(kGpt2, tiny_prompts(), out, kFilter,
                            {"--max-positions", "10", "--batch-prompts", "2", "--shard-size", "6000"});
    }

    // The bundled model over prompts long enough that a rank is still computing when
    // its first shard appears; one small hook point keeps the shards small.
    QStringList long_args(const fs::path& out) const {
        const fs::path prompts = write_prompts(dir() / "long.jsonl", 150, 100, 250, 4096);
        return QStringList{"collect",
                           "--prompts",
                           QString::fromStdString(prompts.string()),
                           "--names-filter",
                           "ln_final.hook_scale",
                           "--out",
                           QString::fromStdString(out.string()),
                           "--batch-prompts",
                           "1",
                           "--shard-size",
                           "4K"};
    }

    // Kills `rank` once its first shard is written; returns every rank's result and
    // the milliseconds the others took to stop after the kill.
    std::pair<std::map<int, CliResult>, qint64> killed_after_first_shard(const fs::path& out, int rank) const {
        Ranks ranks(3, long_args(out), kSmallTimeout);
        const fs::path first = out / ("shard-" + std::to_string(rank) + "-00000.safetensors");
        QElapsedTimer waited;
        waited.start();
        while (!fs::exists(first) && waited.elapsed() < 60000)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ranks.process(rank).kill();
        QElapsedTimer since_kill;
        since_kill.start();
        auto results = ranks.finish();
        return {results, since_kill.elapsed()};
    }

private slots:
    void oneProcessAndThreeGiveTheSameRowsBitForBit() {
        const fs::path one = dir() / "one", three = dir() / "three";
        const CliResult alone = run_hookscope(tiny_args(one) + QStringList{"--threads", "1"}, launch_free_env());
        QVERIFY2(alone.code == 0, qPrintable(alone.err));
        const auto results = Ranks(3, tiny_args(three)).finish();
        for (const auto& [rank, r] : results) {
            QVERIFY2(r.code == 0, qPrintable(all_errors(results)));
            QVERIFY2(r.err.contains(QString("collect: rank %1: ").arg(rank)), qPrintable(r.err));
            // Only rank 0 prints the summary.
            QCOMPARE(r.out.isEmpty(), rank != 0);
        }
        QVERIFY2(results.at(0).out.contains("collected 40 prompts"), qPrintable(results.at(0).out));
        QVERIFY(!fs::exists(one / "shard-1-00000.safetensors"));

        const auto expected = rows_by_prompt(one);
        const auto actual = rows_by_prompt(three);
        QCOMPARE(expected.size(), std::size_t{40});
        QCOMPARE(actual.size(), expected.size());
        for (const auto& [prompt, rows] : expected) {
            const PromptRows& other = actual.at(prompt);
            QCOMPARE(other.size(), rows.size());
            for (const auto& [name, tensor] : rows) {
                QVERIFY2(at::equal(other.at(name), tensor),
                         qPrintable(QString("%1 of prompt %2 differs between 1 and 3 processes")
                                        .arg(QString::fromStdString(name))
                                        .arg(prompt)));
            }
        }

        const json m1 = manifest_of(one), m3 = manifest_of(three);
        QCOMPARE(m3["world_size"], json(3));
        for (const char* key :
             {"model", "model_fingerprint", "names_filter", "options", "prompts_file", "prompts_sha256", "hook_points"})
            QCOMPARE(m3[key], m1[key]);
        for (const char* key : {"prompts", "tokens", "cut_prompts"})
            QCOMPARE(m3["totals"][key], m1["totals"][key]);
        // Every rank's shards are listed, each holding only that rank's batches (r, r+3, ...).
        std::set<int> ranks;
        std::set<int64_t> seen;
        for (const json& s : m3["shards"]) {
            const int rank = s["rank"];
            ranks.insert(rank);
            QCOMPARE(s["sha256"], json(*file_sha256(three / s["file"].get<std::string>())));
            for (const json& range : s["prompt_ranges"]) {
                for (int64_t p = range[0]; p < range[1].get<int64_t>(); ++p) {
                    QCOMPARE(static_cast<int>((p / 2) % 3), rank);
                    QVERIFY(seen.insert(p).second);
                }
            }
        }
        QCOMPARE(ranks, (std::set<int>{0, 1, 2}));
        QCOMPARE(seen.size(), std::size_t{40});
        QCOMPARE(m3["totals"]["shards"], json(m3["shards"].size()));

        // A rerun with another world size is refused by every rank, naming it.
        const auto before = shard_bytes(three);
        const CliResult other = run_hookscope(tiny_args(three) + QStringList{"--threads", "1"}, launch_free_env());
        QCOMPARE(other.code, 1);
        QVERIFY2(other.err.contains("world size: recorded 3, now 1"), qPrintable(other.err));
        const auto two = Ranks(2, tiny_args(three)).finish();
        for (const auto& [rank, r] : two) {
            QVERIFY2(r.code == 1, qPrintable(all_errors(two)));
            QVERIFY2(r.err.contains("world size: recorded 3, now 2"), qPrintable(all_errors(two)));
        }
        QVERIFY(shard_bytes(three) == before);
    }

    void killedRankStopsTheOthersAndARerunResumes() {
        const auto args = [&](const fs::path& out) { return long_args(out); };
        const fs::path complete = dir() / "complete", resumed = dir() / "resumed";
        const auto reference = Ranks(3, args(complete)).finish();
        for (const auto& [rank, r] : reference)
            QVERIFY2(r.code == 0, qPrintable(all_errors(reference)));

        const auto [stopped, stop_ms] = killed_after_first_shard(resumed, 1);
        QCOMPARE(stopped.at(1).code, -2);
        for (const int rank : {0, 2}) {
            QVERIFY2(stopped.at(rank).code == 1, qPrintable(all_errors(stopped)));
            QVERIFY2(stopped.at(rank).err.contains("rank 1 cannot be reached: no sign of it for 4 s"),
                     qPrintable(all_errors(stopped)));
        }
        // Within the timeout, give or take the heartbeat and a batch.
        QVERIFY2(stop_ms < (kSmallTimeout + 4) * 1000, qPrintable(QString("stopped after %1 ms").arg(stop_ms)));
        QVERIFY(!fs::exists(resumed / kManifestName));
        const auto kept = shard_bytes(resumed);
        const auto all = shard_bytes(complete);
        const auto rank1_shards = [](const std::map<std::string, std::string>& files) {
            return std::count_if(files.begin(), files.end(),
                                 [](const auto& f) { return f.first.rfind("shard-1-", 0) == 0; });
        };
        QVERIFY2(rank1_shards(kept) >= 1 && rank1_shards(kept) < rank1_shards(all),
                 qPrintable(QString("rank 1 wrote %1 of its %2 shards before it was killed")
                                .arg(rank1_shards(kept))
                                .arg(rank1_shards(all))));

        const auto rerun = Ranks(3, args(resumed)).finish();
        for (const auto& [rank, r] : rerun)
            QVERIFY2(r.code == 0, qPrintable(all_errors(rerun)));
        QVERIFY2(rerun.at(1).err.contains("collect: rank 1: keeping"), qPrintable(rerun.at(1).err));
        const auto after = shard_bytes(resumed);
        for (const auto& [name, bytes] : kept)
            QVERIFY2(after.at(name) == bytes, name.c_str());
        QVERIFY(after == all);
        QCOMPARE(read_bytes(resumed / kManifestName), read_bytes(complete / kManifestName));
    }

    void killedRankZeroIsNamed() {
        // Rank 0 hosts the store: the others lose it at once.
        const fs::path out = dir() / "rank0";
        const auto [stopped, stop_ms] = killed_after_first_shard(out, 0);
        for (const int rank : {1, 2}) {
            QVERIFY2(stopped.at(rank).code == 1, qPrintable(all_errors(stopped)));
            QVERIFY2(stopped.at(rank).err.contains(QString("rank %1 stopped: rank 0 cannot be reached").arg(rank)),
                     qPrintable(all_errors(stopped)));
        }
        QVERIFY2(stop_ms < (kSmallTimeout + 4) * 1000, qPrintable(QString("stopped after %1 ms").arg(stop_ms)));
        QVERIFY(!fs::exists(out / kManifestName));
    }

    void ranksStartedWithOtherSettingsAreNamed() {
        const fs::path out = dir() / "mixed";
        const auto results = Ranks(2, tiny_args(out), 60, {}, launch_free_env(), {{1, {"--no-prepend-bos"}}}).finish();
        const QString difference = "settings differ from rank 0's: --prepend-bos is false here, true on rank 0";
        QVERIFY2(results.at(1).code == 1 && results.at(1).err.contains("hookscope: rank 1: " + difference),
                 qPrintable(all_errors(results)));
        QVERIFY2(results.at(0).code == 1 &&
                     results.at(0).err.contains("hookscope: rank 0 stopped: rank 1 failed: " + difference),
                 qPrintable(all_errors(results)));
        QVERIFY(!fs::exists(out / kManifestName));
    }

    void rankThatNeverStartsIsNamed() {
        const fs::path out = dir() / "never";
        QElapsedTimer waited;
        waited.start();
        const auto results = Ranks(3, tiny_args(out), kSmallTimeout, {0, 2}).finish();
        for (const auto& [rank, r] : results) {
            QVERIFY2(r.code == 1, qPrintable(all_errors(results)));
            QVERIFY2(r.err.contains("rank 1 of 3 did not join within 4 s (--dist-timeout)"),
                     qPrintable(all_errors(results)));
        }
        QVERIFY2(waited.elapsed() < (kSmallTimeout + 4) * 1000, qPrintable(QString::number(waited.elapsed())));
        QVERIFY(!fs::exists(out / kManifestName));
    }

    void launchSettingsAreCheckedNamingThem() {
        const fs::path out = dir() / "usage";
        const auto expect = [&](const QStringList& more, const QProcessEnvironment& env, const QString& message) {
            const CliResult r = run_hookscope(tiny_args(out) + more, env);
            QCOMPARE(r.code, 2);
            QVERIFY2(r.err.contains(message), qPrintable(r.err));
        };
        const QProcessEnvironment env = launch_free_env();
        expect({"--world-size", "3", "--rank", "3", "--master", "127.0.0.1:29500"}, env,
               "--rank must be a rank from 0 to 2 (the world size is 3), got `3`");
        expect({"--world-size", "2", "--rank", "1", "--master", "127.0.0.1"}, env,
               "--master needs HOST:PORT (e.g. 10.0.0.1:29500), got `127.0.0.1`");
        expect({"--world-size", "2", "--rank", "1", "--master", "host:99999"}, env,
               "--master host:99999 needs a port from 1 to 65535, got `99999`");
        expect({"--world-size", "2", "--rank", "1"}, env,
               "needs the address of rank 0: --master HOST:PORT, or MASTER_ADDR and MASTER_PORT");
        expect({"--world-size", "2"}, env, "needs this process's rank: --rank R or RANK");
        expect({"--world-size", "0"}, env, "--world-size must be a whole number of processes (1 or more), got `0`");
        expect({"--dist-timeout", "soon"}, env, "--dist-timeout needs a number of seconds above 0, got `soon`");

        QProcessEnvironment torchrun = env;
        torchrun.insert("WORLD_SIZE", "2");
        torchrun.insert("RANK", "2");
        expect({}, torchrun, "RANK must be a rank from 0 to 1 (the world size is 2), got `2`");
        torchrun.insert("RANK", "1");
        torchrun.insert("MASTER_ADDR", "127.0.0.1");
        expect({}, torchrun, "(MASTER_PORT is not set)");
        torchrun.insert("MASTER_PORT", "http");
        expect({}, torchrun, "MASTER_PORT needs a port from 1 to 65535, got `http`");
        // The flags win over the environment.
        expect({"--rank", "5"}, torchrun, "--rank must be a rank from 0 to 1");
        QVERIFY(!fs::exists(out));
    }

    void ranksJoinTorchrunsAgentStoreUnderTheAttemptPrefix() {
        // The store torchrun's agent hosts (a static rendezvous): here, this process's.
        c10d::TCPStoreOptions options;
        options.port = static_cast<uint16_t>(free_port());
        options.isServer = true;
        options.waitWorkers = false;
        c10d::TCPStore agent("127.0.0.1", options);
        const fs::path out = dir() / "agent";
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r) {
            QProcessEnvironment env = launch_free_env();
            for (const auto& [name, value] : std::map<QString, QString>{{"WORLD_SIZE", "2"},
                                                                        {"RANK", QString::number(r)},
                                                                        {"MASTER_ADDR", "127.0.0.1"},
                                                                        {"MASTER_PORT", QString::number(options.port)},
                                                                        {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                                        {"TORCHELASTIC_RESTART_COUNT", "3"}})
                env.insert(name, value);
            ranks.push_back(std::make_unique<QProcess>());
            ranks.back()->setProcessEnvironment(env);
            ranks.back()->start(HOOKSCOPE_BINARY, tiny_args(out) + QStringList{"--threads", "1"});
        }
        for (auto& p : ranks) {
            const CliResult r = finished(*p);
            QVERIFY2(r.code == 0, qPrintable(r.err));
        }
        QCOMPARE(manifest_of(out)["world_size"], json(2));
        QVERIFY(agent.check({"/worker/attempt_3/hookscope/joined/0", "/worker/attempt_3/hookscope/joined/1"}));
    }

    void torchrunEnvironmentConfiguresTheRanks() {
        // As torchrun starts two workers on one machine: no flags, only the environment.
        const fs::path one = dir() / "env-one", two = dir() / "env-two";
        QCOMPARE(run_hookscope(tiny_args(one) + QStringList{"--threads", "1"}, launch_free_env()).code, 0);
        const QString port = QString::number(free_port());
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r) {
            QProcessEnvironment env = launch_free_env();
            for (const auto& [name, value] : std::map<QString, QString>{{"WORLD_SIZE", "2"},
                                                                        {"RANK", QString::number(r)},
                                                                        {"LOCAL_RANK", QString::number(r)},
                                                                        {"LOCAL_WORLD_SIZE", "2"},
                                                                        {"MASTER_ADDR", "127.0.0.1"},
                                                                        {"MASTER_PORT", port}})
                env.insert(name, value);
            ranks.push_back(std::make_unique<QProcess>());
            ranks.back()->setProcessEnvironment(env);
            ranks.back()->start(HOOKSCOPE_BINARY, tiny_args(two) + QStringList{"--threads", "1"});
        }
        for (auto& p : ranks) {
            const CliResult r = finished(*p);
            QVERIFY2(r.code == 0, qPrintable(r.err));
        }
        QCOMPARE(manifest_of(two)["world_size"], json(2));
        const auto expected = rows_by_prompt(one), actual = rows_by_prompt(two);
        QCOMPARE(actual.size(), expected.size());
        for (const auto& [prompt, rows] : expected) {
            for (const auto& [name, tensor] : rows)
                QVERIFY(at::equal(actual.at(prompt).at(name), tensor));
        }
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCollectDist)

} // namespace tst_collect_dist
#include "tst_collect_dist.moc"
