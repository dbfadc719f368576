// The `hookscope` command line, run as a user runs it: exit codes, stdout, stderr.

#include "bridge/model/safetensors.h"
#include "support/cli_process.h"
#include "support/edited_checkpoint.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace tst_cli {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const QString kGpt2 = QString(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny";
const QString kGoldenTokens = "0,17,42,99,128,255,256,300,411,500,7,511";
const QString kTokenizers = QString(HOOKSCOPE_FIXTURES) + "/tokenizers";

using Result = test::CliResult;
using test::run_hookscope;

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
        // --version: the version and commit, then LibTorch, Qt and the BLAS in use (the
        // setup installs OpenBLAS, which Debian's libblas alternative then points at), then
        // the CPU kernels' level.
        const Result version = run_hookscope({"--version"});
        QCOMPARE(version.code, 0);
        const QStringList lines = version.out.trimmed().split('\n');
        QCOMPARE(lines.size(), 5);
        QProcess git;
        git.start("git", {"-C", HOOKSCOPE_SOURCE_DIR, "rev-parse", "--short=10", "HEAD"});
        const QString commit = git.waitForFinished() && git.exitCode() == 0
                                   ? QString::fromUtf8(git.readAllStandardOutput()).trimmed()
                                   : "unknown"; // a source tree without git history
        QVERIFY2(lines[0].startsWith(QString("hookscope %1 (git %2").arg(HOOKSCOPE_VERSION, commit)),
                 qPrintable(lines[0]));
        QVERIFY2(lines[1].startsWith("LibTorch 1.13.") && lines[1].contains("libtorch"), qPrintable(lines[1]));
        QCOMPARE(lines[2], QString("Qt %1 (built with %2)").arg(qVersion(), QT_VERSION_STR));
        QVERIFY2(lines[3].startsWith("BLAS OpenBLAS ") && lines[3].contains("libblas.so"), qPrintable(lines[3]));
        // The kernel level in use, capped by HOOKSCOPE_KERNELS; an unknown level is a usage error.
        QVERIFY2(lines[4].startsWith("CPU kernels ") && lines[4].contains("this CPU: "), qPrintable(lines[4]));
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("HOOKSCOPE_KERNELS", "portable");
        QVERIFY(run_hookscope({"--version"}, env).out.contains("CPU kernels portable (this CPU: "));
        env.insert("HOOKSCOPE_KERNELS", "sse9");
        const Result unknown = run_hookscope({"--version"}, env);
        QCOMPARE(unknown.code, 2);
        QVERIFY2(unknown.err.contains("HOOKSCOPE_KERNELS is `sse9`") &&
                     unknown.err.contains("portable, avx2 or avx512"),
                 qPrintable(unknown.err));
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

    void tokenizeJson() {
        const Result r = run_hookscope(
            {"tokenize", "--model", kTokenizers + "/gpt2", "--text", "Hello world<|endoftext|>\n", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["ids"].dump(), "[15496,995,50256,198]");
        QCOMPARE(j["tokens"].dump(), nlohmann::json({"Hello", "\u2423world", "<|endoftext|>", "\\n"}).dump());
    }

    void tokenizePrependsBosFromTheTokenizerConfig() {
        const QString folder = kTokenizers + "/llama2-style";
        const Result with_bos = run_hookscope({"tokenize", "--model", folder, "--text", "Hello world"});
        QCOMPARE(with_bos.code, 0);
        QCOMPARE(with_bos.out, QString("pos\tid\ttoken\n0\t1\t<s>\n1\t270\t\u2423Hello\n2\t274\t\u2423world\n"));
        const Result without =
            run_hookscope({"tokenize", "--model", folder, "--text", "Hello world", "--json", "--no-prepend-bos"});
        QCOMPARE(nlohmann::json::parse(without.out.toStdString())["ids"].dump(), "[270,274]");
        // Empty text without BOS tokenizes to nothing, as Hugging Face's tokenizers do;
        // only running a model needs a token.
        const Result empty = run_hookscope({"tokenize", "--model", folder, "--text=", "--no-prepend-bos", "--json"});
        QCOMPARE(empty.code, 0);
        QCOMPARE(empty.out.trimmed(), QString(R"({"ids":[],"tokens":[]})"));
    }

    // --prompt is the tokenizer's ids with BOS first, fed to the same forward as --tokens.
    void runWithPromptEqualsRunWithItsTokens() {
        const fs::path folder = fs::path(dir_.path().toStdString()) / "model-with-tokenizer";
        fs::create_directories(folder);
        for (const char* name : {"config.json", "model.safetensors"})
            fs::copy_file(fs::path(kGpt2.toStdString()) / name, folder / name);
        for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(fs::path(kTokenizers.toStdString()) / "llama3-style" / name, folder / name);
        const QString model = QString::fromStdString(folder.string());
        const QString from_prompt = dir_.filePath("prompt.safetensors");
        const QString from_tokens = dir_.filePath("tokens.safetensors");
        const Result r = run_hookscope({"run", "--model", model, "--prompt", "hello world", "--export", from_prompt,
                                        "--names-filter", "unembed.hook_out"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const Result ids = run_hookscope({"tokenize", "--model", model, "--text", "hello world", "--json"});
        const auto tokens = nlohmann::json::parse(ids.out.toStdString())["ids"];
        QCOMPARE(tokens.front().get<int>(), 288); // <|begin_of_text|>
        const auto exported = SafetensorsFile::open(from_prompt.toStdString());
        QCOMPARE(exported->metadata().at("token_ids"), tokens.dump());
        const auto strings = nlohmann::json::parse(exported->metadata().at("token_strings"));
        QCOMPARE(strings.front().get<std::string>(), "<|begin_of_text|>");
        QCOMPARE(strings.back().get<std::string>(), " world");
        QString id_list;
        for (const auto& id : tokens)
            id_list += QString::number(id.get<int>()) + ",";
        QCOMPARE(run_hookscope({"run", "--model", model, "--tokens", id_list, "--export", from_tokens, "--names-filter",
                                "unembed.hook_out"})
                     .code,
                 0);
        HS_COMPARE_TENSORS(exported->tensor("unembed.hook_out"),
                           SafetensorsFile::open(from_tokens.toStdString())->tensor("unembed.hook_out"),
                           "logits from --prompt and from --tokens");
    }

    void generateJsonFollowsTheDesign() {
        const QString file = dir_.filePath("generated.safetensors");
        const Result r = run_hookscope({"generate", "--model", kGpt2, "--tokens", kGoldenTokens, "--greedy", "--json",
                                        "--export", file, "--names-filter", "blocks.0.attn.hook_pattern"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        const auto golden = SafetensorsFile::open((kGpt2 + "/golden.safetensors").toStdString());
        const at::Tensor expected = golden->tensor("greedy_tokens").flatten();
        QCOMPARE(j["tokens"].get<std::vector<int64_t>>(),
                 std::vector<int64_t>(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + expected.numel()));
        QCOMPARE(j["prompt_tokens"].get<int>(), 12);
        QCOMPARE(j["new_tokens"].get<int>(), 10);
        QCOMPARE(j["stop_reason"].get<std::string>(), "max_new_tokens");
        QVERIFY(j["seed"].is_null());
        QVERIFY(j["tokens_per_second"].get<double>() > 0);
        for (const char* key : {"prompt_s", "decode_s", "recompute_s"})
            QVERIFY(j["timings"][key].get<double>() >= 0);
        QCOMPARE(j["logprobs"].size(), std::size_t(10));
        QCOMPARE(j["logprobs"][0]["top"].size(), std::size_t(5));
        QCOMPARE(j["cache_keys"].dump(), "[\"blocks.0.attn.hook_pattern\"]");
        const auto exported = SafetensorsFile::open(file.toStdString());
        QCOMPARE(exported->tensor("blocks.0.attn.hook_pattern").size(2), 22);
        QCOMPARE(exported->metadata().at("prompt_length"), "12");
        QVERIFY(exported->metadata().at("generation").find("\"do_sample\":false") != std::string::npos);
        QCOMPARE(j["dtype"].get<std::string>(), "float32");
        QCOMPARE(exported->metadata().at("compute_dtype"), "float32");
    }

    // --dtype bfloat16 says so in the JSON, the export's metadata and the text summaries;
    // the exported activations are still float32.
    void bfloat16IsStatedWhereResultsGo() {
        const QString file = dir_.filePath("bf16.safetensors");
        const Result r = run_hookscope({"generate", "--model", kGpt2, "--tokens", kGoldenTokens, "--greedy", "--json",
                                        "--dtype", "bfloat16", "--export", file, "--names-filter", "hook_embed"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["dtype"].get<std::string>(), "bfloat16");
        QCOMPARE(j["new_tokens"].get<int>(), 10);
        const auto exported = SafetensorsFile::open(file.toStdString());
        QCOMPARE(exported->metadata().at("compute_dtype"), "bfloat16");
        QCOMPARE(exported->metadata().at("dtype"), "float32");
        QCOMPARE(exported->tensor("hook_embed").scalar_type(), at::kFloat);

        const Result text = run_hookscope({"generate", "--model", kGpt2, "--tokens", "1,2", "--max-new-tokens", "2",
                                           "--seed", "1", "--dtype=bfloat16"});
        QVERIFY2(text.code == 0 && text.err.contains("computed in bfloat16"), qPrintable(text.err));
        const Result run = run_hookscope({"run", "--model", kGpt2, "--tokens", "1,2", "--dtype", "bfloat16",
                                          "--names-filter", "hook_embed", "--export", file});
        QVERIFY2(run.code == 0 && run.out.contains("computed in bfloat16"), qPrintable(run.out));
    }

    void generateStreamsText() {
        const Result r = run_hookscope(
            {"generate", "--model", kGpt2, "--tokens", "0,17,42", "--max-new-tokens", "4", "--seed", "7"});
        QCOMPARE(r.code, 0);
        QCOMPARE(r.out.trimmed().split(' ').size(), 4); // no tokenizer: the new ids
        QVERIFY2(r.err.contains("4 new tokens, stop: max_new_tokens") && r.err.contains("seed 7"), qPrintable(r.err));
        QCOMPARE(
            run_hookscope({"generate", "--model", kGpt2, "--tokens", "0,17,42", "--max-new-tokens", "4", "--seed", "7"})
                .out,
            r.out);
    }

    // A hub id resolves in the local Hugging Face cache; `models` lists what is there.
    void hubIdsFromTheLocalCache() {
        const fs::path root = fs::path(dir_.path().toStdString()) / "hf-cache";
        const fs::path snapshot = root / "models--org--tiny-gpt2" / "snapshots" / "rev1";
        fs::create_directories(snapshot);
        for (const char* name : {"config.json", "model.safetensors"})
            fs::copy_file(fs::path(kGpt2.toStdString()) / name, snapshot / name);
        qputenv("HF_HUB_CACHE", QByteArray::fromStdString(root.string()));
        qputenv("HOME", QByteArray::fromStdString((root / "no-home").string()));
        const Result hooks = run_hookscope({"hooks", "--model", "org/tiny-gpt2", "--json"});
        QVERIFY2(hooks.code == 0, qPrintable(hooks.err));
        const Result models = run_hookscope({"models", "--json"});
        QCOMPARE(models.code, 0);
        const auto j = nlohmann::json::parse(models.out.toStdString());
        QCOMPARE(j["models"].size(), std::size_t(1));
        QCOMPARE(j["models"][0]["id"].get<std::string>(), "org/tiny-gpt2");
        QCOMPARE(j["models"][0]["architecture"].get<std::string>(), "GPT-2");
        const Result missing = run_hookscope({"hooks", "--model", "EleutherAI/pythia-70m"});
        QCOMPARE(missing.code, 1);
        QVERIFY2(missing.err.contains("not in the local Hugging Face cache"), qPrintable(missing.err));
        qunsetenv("HF_HUB_CACHE");
    }

    // The GUI generates, selects an attention head and saves the window at 1600x1000.
    void screenshotWritesThePng() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "offscreen");
        env.insert("XDG_CONFIG_HOME", dir_.filePath("config")); // settings stay in the test's folder
        QDir(dir_.path()).mkpath("runtime");
        QFile::setPermissions(dir_.filePath("runtime"), QFileDevice::ReadOwner | QFileDevice::WriteOwner |
                                                            QFileDevice::ExeOwner); // as a session has it
        env.insert("XDG_RUNTIME_DIR", dir_.filePath("runtime"));
        const QString file = dir_.filePath("shot.png");
        const Result r =
            run_hookscope({"--screenshot", file, "--model", kGpt2, "--max-new-tokens", "3", "--head", "0.3"}, env);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("1600x1000, attention of layer 0 head 3"), qPrintable(r.out));
        const QImage image(file);
        QCOMPARE(image.size(), QSize(1600, 1000));
        QVERIFY(QFile::exists(dir_.filePath("config/HookScope/HookScope.conf"))); // recent models remembered
        // The window's own output on stderr is nothing but the offscreen plugin's notices.
        QStringList own;
        for (const QString& line : r.err.split('\n', Qt::SkipEmptyParts)) {
            if (!line.contains("This plugin does not support")) own << line;
        }
        QVERIFY2(own.isEmpty(), qPrintable(own.join('\n')));

        // Another size, as the README's screenshots are taken.
        const Result small =
            run_hookscope({"--screenshot", file, "--model", kGpt2, "--max-new-tokens", "3", "--size", "1280x800"}, env);
        QVERIFY2(small.code == 0, qPrintable(small.err));
        QCOMPARE(QImage(file).size(), QSize(1280, 800));

        const Result missing = run_hookscope({"--screenshot", file, "--model", "/no/such/model"}, env);
        QCOMPARE(missing.code, 1);
        QVERIFY2(missing.err.contains("/no/such/model"), qPrintable(missing.err));
    }

    void headsJson() {
        const Result r = run_hookscope({"heads", "--model", kGpt2, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["sequence_length"].get<int>(), 50);
        QCOMPARE(j["sequences"].get<int>(), 8);
        for (const char* key : {"previous_token", "duplicate_token", "induction"}) {
            QCOMPARE(j[key].size(), std::size_t(2));    // layers
            QCOMPARE(j[key][0].size(), std::size_t(4)); // heads
            for (const auto& layer : j[key]) {
                for (const auto& v : layer)
                    QVERIFY(v.get<double>() >= 0 && v.get<double>() <= 1);
            }
        }
        const Result text = run_hookscope({"heads", "--model", kGpt2});
        QCOMPARE(text.code, 0);
        QCOMPARE(text.out.trimmed().split('\n').size(), 2 + 2 * 4);
    }

    void lensAndAttributeJson() {
        const auto golden = SafetensorsFile::open((kGpt2 + "/golden.safetensors").toStdString());
        const at::Tensor logits = golden->tensor("logits")[0]; // [12, 512]
        const Result lens =
            run_hookscope({"lens", "--model", kGpt2, "--tokens", kGoldenTokens, "--top-k", "3", "--json"});
        QCOMPARE(lens.code, 0);
        const auto j = nlohmann::json::parse(lens.out.toStdString());
        QCOMPARE(j["tokens"].size(), std::size_t(12));
        QCOMPARE(j["tokens"][1].get<std::string>(), "17"); // no tokenizer: ids
        QCOMPARE(j["layers"].size(), std::size_t(3));
        QCOMPARE(j["layers"][0]["hook"].get<std::string>(), "blocks.0.hook_resid_pre");
        QCOMPARE(j["layers"][1]["hook"].get<std::string>(), "blocks.1.hook_resid_pre");
        QCOMPARE(j["layers"][2]["hook"].get<std::string>(), "blocks.1.hook_resid_post");
        const auto& last = j["layers"][2]["positions"];
        QCOMPARE(last.size(), std::size_t(12));
        for (int p = 0; p < 12; ++p) { // the last layer: Hugging Face's own top 3
            const auto [probs, ids] = at::softmax(logits[p], -1).topk(3);
            for (int k = 0; k < 3; ++k) {
                QCOMPARE(last[p]["ids"][k].get<int64_t>(), ids[k].item<int64_t>());
                QVERIFY(std::abs(last[p]["probs"][k].get<double>() - probs[k].item<double>()) < 1e-5);
            }
        }

        const Result attribution = run_hookscope(
            {"attribute", "--model", kGpt2, "--tokens", kGoldenTokens, "--position", "-1", "--target", "17", "--json"});
        QCOMPARE(attribution.code, 0);
        const auto a = nlohmann::json::parse(attribution.out.toStdString());
        QCOMPARE(a["position"].get<int>(), 11);
        QVERIFY(std::abs(a["logit"].get<double>() - logits[11][17].item<double>()) < 1e-4);
        QVERIFY(std::abs(a["sum"].get<double>() - a["logit"].get<double>()) < 1e-4);
        QCOMPARE(a["heads"].size(), std::size_t(2));
        QCOMPARE(a["heads"][0].size(), std::size_t(4));
        QCOMPARE(a["mlp"].size(), std::size_t(2));
        QVERIFY(a["pos_embed"].is_number() && a["contrast"].is_null());

        const Result text = run_hookscope(
            {"attribute", "--model", kGpt2, "--tokens", kGoldenTokens, "--position", "3", "--target", "5"});
        QCOMPARE(text.code, 0);
        QVERIFY2(text.out.startsWith("logit of 5 at position 3 (99): "), qPrintable(text.out));
    }

    void usageErrorsExitWithTwo_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("error");
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command `frobnicate`";
        QTest::newRow("unknown option") << QStringList{"hooks", "--modle", "x"} << "unknown option --modle";
        QTest::newRow("missing value") << QStringList{"hooks", "--model"} << "option --model needs a value";
        QTest::newRow("screenshot size not WxH")
            << QStringList{"--screenshot", "x.png", "--model", kGpt2, "--size", "1280"}
            << "--size must be WIDTHxHEIGHT";
        QTest::newRow("screenshot head not L.H")
            << QStringList{"--screenshot", "x.png", "--model", kGpt2, "--head", "1"} << "--head must be LAYER.HEAD";
        QTest::newRow("run without tokens")
            << QStringList{"run", "--model", kGpt2, "--export", "x.safetensors"} << "needs --prompt TEXT or --tokens";
        QTest::newRow("prompt and tokens")
            << QStringList{"run", "--model", kGpt2, "--export", "x.safetensors", "--prompt", "a", "--tokens", "1"}
            << "either --prompt or --tokens";
        QTest::newRow("greedy and temperature")
            << QStringList{"generate", "--model", kGpt2, "--tokens", "1", "--greedy", "--temperature", "0.5"}
            << "--greedy cannot be combined";
        QTest::newRow("bad temperature") << QStringList{"generate", "--model",       kGpt2, "--tokens",
                                                        "1",        "--temperature", "hot"}
                                         << "--temperature needs a number";
        QTest::newRow("tokenize without text")
            << QStringList{"tokenize", "--model", kTokenizers + "/gpt2"} << "`tokenize` needs --text";
        QTest::newRow("bad token id") << QStringList{"run", "--model", kGpt2, "--tokens", "1,x", "--export", "y"}
                                      << "token id `x` is not a non-negative integer";
        QTest::newRow("bad threads") << QStringList{"hooks", "--model", kGpt2, "--threads", "0"}
                                     << "--threads needs a positive integer";
        QTest::newRow("inspect without file") << QStringList{"inspect"} << "`inspect` needs a FILE";
        QTest::newRow("attribute without target")
            << QStringList{"attribute", "--model", kGpt2, "--tokens", "1,2", "--position", "0"}
            << "`attribute` needs --position P and --target ID";
        QTest::newRow("bad cache limit") << QStringList{"run",      "--model", kGpt2,           "--tokens", "1",
                                                        "--export", "x",       "--cache-limit", "lots"}
                                         << "--cache-limit needs a size such as 500M or 8G, or none; got `lots`";
        QTest::newRow("bad dtype") << QStringList{"hooks", "--model", kGpt2, "--dtype", "float16"}
                                   << "--dtype must be float32 or bfloat16, got `float16`";
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
        QTest::newRow("model not a folder") << QStringList{"hooks", "--model", "/no/such/model"} << "is not a folder";
        // Broken checkpoint folders: no config.json, no weights, pickled weights only.
        const QString no_config = dir_.filePath("no-config"), no_weights = dir_.filePath("no-weights"),
                      pickled = dir_.filePath("pickled");
        for (const QString& folder : {no_config, no_weights, pickled})
            QDir().mkpath(folder);
        QFile::copy(kGpt2 + "/model.safetensors", no_config + "/model.safetensors");
        QFile::copy(kGpt2 + "/config.json", no_weights + "/config.json");
        QFile::copy(kGpt2 + "/config.json", pickled + "/config.json");
        QFile bin(pickled + "/pytorch_model.bin");
        QVERIFY(bin.open(QIODevice::WriteOnly) && bin.write("\x80\x02}q\x00.") > 0); // a pickle's first bytes
        bin.close();
        QTest::newRow("no config.json") << QStringList{"heads", "--model", no_config} << "config.json: no such file";
        QTest::newRow("no weights") << QStringList{"heads", "--model", no_weights}
                                    << "no model.safetensors or model.safetensors.index.json";
        QTest::newRow("pickled weights") << QStringList{"heads", "--model", pickled}
                                         << "Convert the checkpoint to safetensors";
        // Inputs longer than the context of 128 positions.
        QStringList ids;
        for (int i = 0; i < 130; ++i)
            ids << QString::number(i);
        QTest::newRow("prompt past the context")
            << QStringList{"generate", "--model", kGpt2, "--tokens", ids.join(',')} << "more than the model's context";
        QTest::newRow("run past the context") << QStringList{"run",
                                                             "--model",
                                                             kGpt2,
                                                             "--tokens",
                                                             ids.join(','),
                                                             "--export",
                                                             dir_.filePath("c.safetensors")}
                                              << "130 tokens exceed the model's context of 128 positions";
        QTest::newRow("token outside vocabulary")
            << QStringList{"run", "--model", kGpt2, "--tokens", "1,999", "--export", dir_.filePath("z.safetensors")}
            << "token id 999 at position 1 is outside the vocabulary";
        QTest::newRow("negative temperature")
            << QStringList{"generate", "--model", kGpt2, "--tokens", "1", "--temperature", "-1"}
            << "temperature must be";
        QTest::newRow("stop string without tokenizer")
            << QStringList{"generate", "--model", kGpt2, "--tokens", "1", "--stop", "x"} << "stop strings need";
        QTest::newRow("prompt without tokenizer")
            << QStringList{"run", "--model", kGpt2, "--prompt", "hi", "--export", dir_.filePath("p.safetensors")}
            << "has no tokenizer";
        QTest::newRow("malformed filter") << QStringList{"hooks", "--model", kGpt2, "--names-filter", "/resid("}
                                          << "regular expression has no closing";
        QTest::newRow("inspect a non-safetensors file")
            << QStringList{"inspect", kGpt2 + "/config.json"} << "config.json: header length";
        QTest::newRow("inspect an npz export")
            << QStringList{"inspect", dir_.filePath("cache.npz")} << "`inspect` reads safetensors exports";
        QTest::newRow("attribute past the input")
            << QStringList{"attribute", "--model", kGpt2, "--tokens", "1,2", "--position", "-3", "--target", "1"}
            << "--position -3 is outside the 2 positions of the input";
        // A bad SPEC is named, and nothing runs (no export is written).
        QTest::newRow("intervention head out of range")
            << QStringList{"run",
                           "--model",
                           kGpt2,
                           "--tokens",
                           "1,2",
                           "--intervene",
                           "blocks.0.attn.hook_z@9=zero",
                           "--export",
                           dir_.filePath("never.safetensors")}
            << "intervention `blocks.0.attn.hook_z@9=zero`: head 9 is out of range: `blocks.0.attn.hook_z` has 4 heads";
        QTest::newRow("intervention past the generation")
            << QStringList{"generate",         "--model", kGpt2,         "--tokens",         "1,2",
                           "--max-new-tokens", "3",       "--intervene", "hook_embed:5=zero"}
            << "positions 5 reach past the sequence: this run has at most 5 positions (0-4)";
        QTest::newRow("intervention on an attention pattern") << QStringList{"lens",
                                                                             "--model",
                                                                             kGpt2,
                                                                             "--tokens",
                                                                             "1,2",
                                                                             "--intervene",
                                                                             "blocks.1.attn.hook_pattern=mean"}
                                                              << "take only zero and patch";
        QTest::newRow("patch lengths differ")
            << QStringList{"patch", "--model", kGpt2, "--clean-tokens", "1,2,3", "--corrupted-tokens", "1,2"}
            << "clean has 3, corrupted 2";
        QTest::newRow("export into a missing folder")
            << QStringList{"run", "--model", kGpt2, "--tokens", "1", "--export", dir_.filePath("no/dir/x.safetensors")}
            << "cannot write";
    }

    // A file-size limit (a full disk, as far as the writer can tell) fails the export
    // with an error; the file it would have replaced keeps its contents.
    void exportPastAFileSizeLimitFailsCleanly() {
        const QString target = dir_.filePath("limited.safetensors");
        {
            QFile old(target);
            QVERIFY(old.open(QIODevice::WriteOnly));
            old.write("the previous export");
        }
        QProcess p;
        p.start("bash", {"-c", "ulimit -f 16 && exec \"$0\" \"$@\"", HOOKSCOPE_BINARY, "run", "--model", kGpt2,
                         "--tokens", kGoldenTokens, "--export", target}); // 16 KiB; the export is about 160 KiB
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit); // not killed by SIGXFSZ
        QCOMPARE(p.exitCode(), 1);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains("cannot write") && err.contains("File too large"), qPrintable(err));
        QFile old(target);
        QVERIFY(old.open(QIODevice::ReadOnly));
        QCOMPARE(old.readAll(), QByteArray("the previous export"));
        QCOMPARE(QDir(dir_.path()).entryList({".limited*", "*.tmp*"}, QDir::Files | QDir::Hidden), QStringList());
    }

    // A capture past --cache-limit is refused before any work, naming filters that fit.
    void cacheLimitRefusesALargeCapture() {
        const QString file = dir_.filePath("limited-cache.safetensors");
        const Result r = run_hookscope(
            {"run", "--model", kGpt2, "--tokens", kGoldenTokens, "--export", file, "--cache-limit", "10K"});
        QCOMPARE(r.code, 1);
        // Every hook point at 12 positions is 40,764 floats (tst_cache_budget counts them
        // by shape); the residual stream is 2 x 12 x 64 floats, the patterns 2 x 4 x 12 x 12.
        QVERIFY2(r.err.contains("the cache would take 163.1 KB (40 hook points over 12 positions), more than the "
                                "limit of 10.0 KB. Capture fewer hook points with --names-filter, for example "
                                "'*hook_resid_post' (6.1 KB) or 'blocks.*.attn.hook_pattern' (4.6 KB); or raise the "
                                "limit with --cache-limit"),
                 qPrintable(r.err));
        QVERIFY(!QFile::exists(file));

        // The suggestion fits; "none" lifts the limit.
        const Result smaller = run_hookscope({"run", "--model", kGpt2, "--tokens", kGoldenTokens, "--export", file,
                                              "--cache-limit", "10K", "--names-filter", "*hook_resid_post"});
        QCOMPARE(smaller.code, 0);
        QVERIFY2(smaller.out.contains("captured 2 hook points over 12 positions (6144 bytes"), qPrintable(smaller.out));
        const Result unlimited = run_hookscope(
            {"run", "--model", kGpt2, "--tokens", kGoldenTokens, "--export", file, "--cache-limit", "none"});
        QCOMPARE(unlimited.code, 0);
        QVERIFY2(unlimited.out.contains("captured 40 hook points over 12 positions (163056 bytes"),
                 qPrintable(unlimited.out));

        // generate counts the positions it may reach: the prompt and every new token.
        const Result gen = run_hookscope({"generate", "--model", kGpt2, "--tokens", kGoldenTokens, "--max-new-tokens",
                                          "200", "--greedy", "--export", file, "--cache-limit", "1M"});
        QCOMPARE(gen.code, 1);
        QVERIFY2(gen.err.contains("over 128 positions), more than the limit of 1.0 MB"), qPrintable(gen.err));
        QVERIFY(gen.out.isEmpty()); // refused before the first token
        // Without --export nothing is captured, so nothing is refused.
        QCOMPARE(
            run_hookscope({"generate", "--model", kGpt2, "--tokens", kGoldenTokens, "--greedy", "--cache-limit", "1"})
                .code,
            0);
    }

    // Weights holding NaN or infinities: the command runs, with a warning on stderr.
    void nonFiniteWeightsWarn() {
        const fs::path folder =
            test::edited_checkpoint(kGpt2.toStdString(), fs::path(dir_.path().toStdString()) / "non-finite",
                                    test::non_finite_in("transformer.wpe.weight"));
        const Result r = run_hookscope({"heads", "--model", QString::fromStdString(folder.string())});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.startsWith("hookscope: warning: "), qPrintable(r.err));
        QVERIFY2(r.err.contains("tensor `transformer.wpe.weight` holds 1 NaN and 2 infinite values"),
                 qPrintable(r.err));
        QVERIFY(r.out.contains("induction"));
        QVERIFY(run_hookscope({"heads", "--model", kGpt2}).err.isEmpty()); // clean weights: no warning
    }

    void inputErrorsExitWithOne() {
        QFETCH(QStringList, args);
        QFETCH(QString, error);
        const Result r = run_hookscope(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.startsWith("hookscope: "), qPrintable(r.err));
        QVERIFY2(r.err.contains(error), qPrintable(r.err));
        QVERIFY(!QFile::exists(dir_.filePath("never.safetensors")));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCli)

} // namespace tst_cli
#include "tst_cli.moc"
