// `hookscope collect` run as a user runs it, and `inspect` on what it writes: the rows
// of the shards against run_with_cache, shard boundaries, the manifest, resuming, and
// the runs it refuses.

#include "bridge/formats/sha256.h"
#include "bridge/io/dataset.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/threads.h"
#include "support/cli_process.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace tst_collect {

using namespace hookscope;
using hookscope::test::CliResult;
using hookscope::test::run_hookscope;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const QString kGpt2 = QString(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny";
// Per-token hook points of every rank: [T, D], [T, H, Dh], [T, 1] and after the blocks.
const QString kFilter = "blocks.0.hook_resid_pre,blocks.1.attn.hook_z,blocks.0.ln2.hook_scale,ln_final.hook_normalized";
// Prompts of 5, 2, 12 (cut to 10), 1, 7 and 3 tokens.
const std::vector<std::vector<int64_t>> kPrompts{
    {1, 2, 3, 4, 5}, {7, 8}, {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, {3}, {500, 17, 42, 99, 128, 255, 256},
    {0, 511, 300}};
constexpr int64_t kMaxPositions = 10;

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// The prompts as a .jsonl file, one blank line among them (skipped).
fs::path write_prompts(const fs::path& dir) {
    std::string text;
    for (std::size_t k = 0; k < kPrompts.size(); ++k) {
        text += json{{"tokens", kPrompts[k]}}.dump() + "\n";
        if (k == 1) text += "\n";
    }
    write_bytes(dir / "prompts.jsonl", text);
    return dir / "prompts.jsonl";
}

CliResult collect(const fs::path& prompts, const fs::path& out, const QStringList& more = {}) {
    QStringList args{"collect",
                     "--model",
                     kGpt2,
                     "--prompts",
                     QString::fromStdString(prompts.string()),
                     "--names-filter",
                     kFilter,
                     "--out",
                     QString::fromStdString(out.string()),
                     "--max-positions",
                     QString::number(kMaxPositions)};
    if (!more.contains("--batch-prompts"))
        args << "--batch-prompts"
             << "4";
    return run_hookscope(args + more);
}

json manifest_of(const fs::path& dir) {
    return json::parse(read_bytes(dir / kManifestName));
}

// Every shard file's bytes, by name.
std::map<std::string, std::string> shard_bytes(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".safetensors") files[entry.path().filename()] = read_bytes(entry.path());
    }
    return files;
}

std::vector<int64_t> ids(const at::Tensor& t) {
    return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

} // namespace

class TestCollect : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void rowsEqualRunWithCacheOfEachPromptAlone_data() {
        QTest::addColumn<bool>("alone");
        QTest::newRow("batches of 4") << false;
        QTest::newRow("batches of 1") << true;
    }

    void rowsEqualRunWithCacheOfEachPromptAlone() {
        QFETCH(bool, alone);
        const fs::path out = dir() / (alone ? "rows-alone" : "rows");
        const CliResult r = collect(write_prompts(dir()), out, {"--batch-prompts", alone ? "1" : "4"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("1 prompt(s) longer than 10 positions cut to 10"), qPrintable(r.err));
        QVERIFY2(r.err.contains("collect: 6/6 prompts"), qPrintable(r.err));

        // The threads the command runs with, so the sums are made in the same order.
        apply_thread_split(default_thread_split());
        const auto model = Model::load(kGpt2.toStdString());
        const NamesFilter filter(kFilter.toStdString());
        const json manifest = manifest_of(out);
        std::size_t prompt = 0;
        for (const json& s : manifest["shards"]) {
            const auto shard = SafetensorsFile::open(out / s["file"].get<std::string>());
            const at::Tensor prompt_index = shard->tensor("prompt_index");
            const std::vector<int64_t> token_ids = ids(shard->tensor("token_ids"));
            const std::vector<int64_t> position = ids(shard->tensor("position"));
            int64_t row = 0;
            while (row < prompt_index.numel()) {
                QCOMPARE(prompt_index[row].item<int64_t>(), static_cast<int64_t>(prompt));
                std::vector<int64_t> tokens = kPrompts[prompt];
                if (static_cast<int64_t>(tokens.size()) > kMaxPositions) tokens.resize(kMaxPositions);
                const auto n = static_cast<int64_t>(tokens.size());
                QCOMPARE(std::vector<int64_t>(token_ids.begin() + row, token_ids.begin() + row + n), tokens);
                for (int64_t p = 0; p < n; ++p)
                    QCOMPARE(position[row + p], p);
                const ActivationCache cache = model->run_with_cache(tokens, filter);
                QCOMPARE(cache.size(), std::size_t{4});
                for (const auto& [name, expected] : cache.entries()) {
                    const at::Tensor rows = shard->tensor(name).narrow(0, row, n);
                    // Batched with prompts of other lengths, the products sum in
                    // another order (tst_architectures derives the bound); alone, the
                    // forward is run_with_cache's own.
                    const auto d = test::compare(rows, expected.select(0, 0), 1e-5, 1e-5);
                    QVERIFY2(alone ? at::equal(rows, expected.select(0, 0)) : d.close,
                             qPrintable(QString("%1 of prompt %2 differs from run_with_cache by up to %3")
                                            .arg(QString::fromStdString(name))
                                            .arg(prompt)
                                            .arg(d.max_abs)));
                }
                row += n;
                ++prompt;
            }
        }
        QCOMPARE(prompt, kPrompts.size());
    }

    void shardsHoldWholePromptsWithinTheSize() {
        const fs::path out = dir() / "shards";
        // One token's rows: resid_pre 64 + hook_z 4x16 + scale 1 + normalized 64 floats,
        // and three int64 ids: 796 bytes. 6000 bytes fit 7 tokens.
        const CliResult r = collect(write_prompts(dir()), out, {"--shard-size", "6000"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const json manifest = manifest_of(out);
        QCOMPARE(manifest["format"], json(kDatasetFormat));
        QCOMPARE(manifest["model"], json(kGpt2.toStdString()));
        QCOMPARE(manifest["model_fingerprint"], json(Model::load(kGpt2.toStdString())->fingerprint()));
        QCOMPARE(manifest["names_filter"], json(kFilter.toStdString()));
        QCOMPARE(manifest["prompts_file"], json("prompts.jsonl"));
        QCOMPARE(manifest["prompts_sha256"], json(*file_sha256(dir() / "prompts.jsonl")));
        QCOMPARE(manifest["world_size"], json(1));
        QCOMPARE(manifest["options"], (json{{"max_positions", 10},
                                            {"shard_size", 6000},
                                            {"batch_prompts", 4},
                                            {"prepend_bos", true},
                                            {"dtype", "float32"}}));
        QCOMPARE(manifest["totals"], (json{{"prompts", 6}, {"tokens", 28}, {"cut_prompts", 1}, {"shards", 5}}));
        QCOMPARE(manifest["hook_points"][2], (json{{"name", "blocks.1.attn.hook_z"}, {"shape", {"T", "H=4", 16}}}));
        // 5 + 2 tokens fit; 10 (cut from 12) pass the size alone; 1 + 7 and 7 + 3 would
        // pass it: prompts [0, 2), [2], [3], [4], [5].
        const std::vector<int64_t> ends{2, 3, 4, 5, 6};
        QCOMPARE(manifest["shards"].size(), ends.size());
        int64_t next = 0;
        std::size_t shard_number = 0;
        std::set<int64_t> seen;
        for (const json& s : manifest["shards"]) {
            const fs::path path = out / s["file"].get<std::string>();
            QCOMPARE(s["sha256"], json(*file_sha256(path)));
            QCOMPARE(s["bytes"].get<uint64_t>(), fs::file_size(path));
            const auto shard = SafetensorsFile::open(path);
            QCOMPARE(shard->metadata().at("rank"), std::string("0"));
            QCOMPARE(shard->metadata().at("world_size"), std::string("1"));
            QCOMPARE(shard->metadata().at("model_fingerprint"), manifest["model_fingerprint"].get<std::string>());
            const std::vector<int64_t> prompts = ids(shard->tensor("prompt_index"));
            QCOMPARE(static_cast<int64_t>(prompts.size()), s["tokens"].get<int64_t>());
            int64_t tokens = 0;
            QCOMPARE(s["prompt_ranges"].back()[1].get<int64_t>(), ends[shard_number++]);
            for (const json& range : s["prompt_ranges"]) {
                QCOMPARE(range[0].get<int64_t>(), next);
                next = range[1].get<int64_t>();
                for (int64_t p = range[0]; p < next; ++p) {
                    const auto whole = std::min<int64_t>(static_cast<int64_t>(kPrompts[p].size()), kMaxPositions);
                    QCOMPARE(std::count(prompts.begin(), prompts.end(), p), whole); // all its rows, here
                    tokens += whole;
                    QVERIFY(seen.insert(p).second);
                }
            }
            QCOMPARE(tokens, static_cast<int64_t>(prompts.size()));
            QVERIFY2(tokens * 796 <= 6000 || s["prompts"] == 1, qPrintable(QString::fromStdString(s.dump())));
        }
        QCOMPARE(next, int64_t{6});
        QVERIFY(fs::exists(out / "shard-0-00004.safetensors") && !fs::exists(out / "shard-0-00005.safetensors"));
    }

    void interruptedRunResumesToIdenticalShards() {
        const fs::path out = dir() / "resume";
        const fs::path prompts = write_prompts(dir());
        QCOMPARE(collect(prompts, out, {"--shard-size", "6000"}).code, 0);
        const auto complete = shard_bytes(out);
        const std::string manifest = read_bytes(out / kManifestName);
        QCOMPARE(complete.size(), std::size_t{5});

        // Interrupted after its first two shards: the rest and the manifest never written.
        for (const char* name :
             {"shard-0-00002.safetensors", "shard-0-00003.safetensors", "shard-0-00004.safetensors", kManifestName})
            fs::remove(out / name);
        const fs::file_time_type kept_time = fs::last_write_time(out / "shard-0-00000.safetensors");
        const CliResult resumed = collect(prompts, out, {"--shard-size", "6000"});
        QVERIFY2(resumed.code == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.err.contains("keeping 2 finished shard(s) of an earlier run (3 prompts)"),
                 qPrintable(resumed.err));
        QCOMPARE(fs::last_write_time(out / "shard-0-00000.safetensors"), kept_time);
        QVERIFY(shard_bytes(out) == complete);
        QCOMPARE(read_bytes(out / kManifestName), manifest);

        // A damaged shard the manifest lists is redone, from it on.
        std::string damaged = complete.at("shard-0-00001.safetensors");
        damaged[damaged.size() - 30] ^= 0x40;
        write_bytes(out / "shard-0-00001.safetensors", damaged);
        const CliResult redone = collect(prompts, out, {"--shard-size", "6000"});
        QVERIFY2(redone.code == 0, qPrintable(redone.err));
        QVERIFY2(redone.err.contains("keeping 1 finished shard(s)"), qPrintable(redone.err));
        QVERIFY(shard_bytes(out) == complete);
        QCOMPARE(read_bytes(out / kManifestName), manifest);
    }

    void rerunWithOtherSettingsIsRefusedNamingThem() {
        const fs::path out = dir() / "refused";
        const fs::path prompts = write_prompts(dir());
        QCOMPARE(collect(prompts, out).code, 0);
        const auto before = shard_bytes(out);
        const CliResult other = collect(prompts, out, {"--shard-size", "4K"});
        QCOMPARE(other.code, 1);
        QVERIFY2(other.err.contains("--shard-size: recorded 1000000000, now 4000"), qPrintable(other.err));
        // Without the manifest the shards themselves say how they were made.
        fs::remove(out / kManifestName);
        const CliResult no_bos = collect(prompts, out, {"--no-prepend-bos"});
        QCOMPARE(no_bos.code, 1);
        QVERIFY2(no_bos.err.contains("shard-0-00000.safetensors was made differently (--prepend-bos: recorded "
                                     "true, now false)"),
                 qPrintable(no_bos.err));
        write_bytes(prompts, read_bytes(prompts) + "{\"tokens\": [5]}\n");
        const CliResult edited = collect(prompts, out);
        QCOMPARE(edited.code, 1);
        QVERIFY2(edited.err.contains("prompts file contents (SHA-256)"), qPrintable(edited.err));
        QVERIFY(shard_bytes(out) == before);
    }

    void attentionMatricesAreRefused() {
        const CliResult r = run_hookscope({"collect", "--model", kGpt2, "--prompts",
                                           QString::fromStdString(write_prompts(dir()).string()), "--names-filter",
                                           "blocks.0.attn.*", "--out", QString::fromStdString((dir() / "a").string())});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("blocks.0.attn.hook_attn_scores, blocks.0.attn.hook_pattern"), qPrintable(r.err));
        QVERIFY(!fs::exists(dir() / "a"));
    }

    void malformedPromptLinesAreNamed() {
        const fs::path prompts = dir() / "bad.jsonl";
        const auto expect = [&](const std::string& text, const QString& message) {
            write_bytes(prompts, text);
            const CliResult r = collect(prompts, dir() / "bad");
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.contains(message), qPrintable(r.err));
        };
        const QString where = QString::fromStdString(prompts.string());
        expect("{\"tokens\": [1, 2]}\n{\"tokens\": [1, \"x\"]}\n", where + ":2: token id \"x\" is not an integer >= 0");
        expect("{\"tokens\": [1]}\n\n{\"text\": \"a\"\n", where + ":3: not a JSON value");
        expect("{\"prompt\": \"a\"}\n", where + ":1: needs exactly one of \"text\" and \"tokens\"");
        expect("{\"tokens\": [1, 512]}\n", where + ":1: token id 512 is outside the vocabulary (0..511)");
        // gpt2-tiny has no tokenizer: text prompts are refused, saying why.
        expect("{\"text\": \"hello\"}\n", "has no tokenizer");
    }

    void plainTextPromptsTakeBos() {
        // The bundled model (kjv-gpt2) has a tokenizer: one prompt per line, BOS first.
        const fs::path prompts = dir() / "prompts.txt";
        write_bytes(prompts, "In the beginning\n\nGod created the heaven\n");
        const fs::path out = dir() / "text";
        const CliResult r =
            run_hookscope({"collect", "--prompts", QString::fromStdString(prompts.string()), "--names-filter",
                           "blocks.0.hook_resid_post", "--out", QString::fromStdString(out.string())});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto shard = SafetensorsFile::open(out / "shard-0-00000.safetensors");
        const std::vector<int64_t> tokens = ids(shard->tensor("token_ids"));
        const std::vector<int64_t> prompts_of = ids(shard->tensor("prompt_index"));
        const CliResult first = run_hookscope({"tokenize", "--text", "In the beginning", "--json"});
        QCOMPARE(first.code, 0);
        const auto expected = json::parse(first.out.toStdString())["ids"].get<std::vector<int64_t>>();
        QCOMPARE(std::vector<int64_t>(tokens.begin(), tokens.begin() + expected.size()), expected);
        QCOMPARE(prompts_of.back(), int64_t{1});
        QCOMPARE(manifest_of(out)["totals"]["prompts"], json(2));
    }

    void inspectSummarisesAndVerifiesADataset() {
        const fs::path out = dir() / "inspect";
        QCOMPARE(collect(write_prompts(dir()), out, {"--shard-size", "6000"}).code, 0);
        const QString folder = QString::fromStdString(out.string());
        const CliResult summary = run_hookscope({"inspect", folder, "--verify"});
        QVERIFY2(summary.code == 0, qPrintable(summary.err));
        QVERIFY2(summary.out.contains("prompts: 6 (1 cut)\ntokens: 28\n"), qPrintable(summary.out));
        QVERIFY2(summary.out.contains("  blocks.1.attn.hook_z  [T, H=4, 16]\n"), qPrintable(summary.out));
        QVERIFY2(summary.out.contains("shards (5):\n  shard-0-00000.safetensors  prompts 0..1  7 tokens"),
                 qPrintable(summary.out));
        QVERIFY(summary.err.contains("verified 5 shard(s)"));

        const fs::path shard = out / "shard-0-00003.safetensors";
        std::string bytes = read_bytes(shard);
        bytes[bytes.size() - 1] ^= 1;
        write_bytes(shard, bytes);
        QCOMPARE(run_hookscope({"inspect", folder}).code, 0); // the summary alone does not read the shards
        const CliResult bad = run_hookscope({"inspect", folder, "--verify"});
        QCOMPARE(bad.code, 1);
        QVERIFY2(bad.err.contains("shard-0-00003.safetensors is damaged: its SHA-256 is"), qPrintable(bad.err));
        fs::remove(shard);
        const CliResult missing = run_hookscope({"inspect", folder, "--verify"});
        QCOMPARE(missing.code, 1);
        QVERIFY2(missing.err.contains("shard-0-00003.safetensors is missing"), qPrintable(missing.err));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCollect)

} // namespace tst_collect
#include "tst_collect.moc"
