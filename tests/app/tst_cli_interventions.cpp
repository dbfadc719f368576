// The command line's interventions and patching sweeps, run as a user runs them:
// `--intervene` on generate and run, and `hookscope patch` against Hugging Face's sweeps.

#include "bridge/model/safetensors.h"
#include "support/cli_process.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace tst_cli_interventions {

using namespace hookscope;
namespace fs = std::filesystem;
using Result = test::CliResult;
using test::run_hookscope;

namespace {

const QString kGpt2 = QString(HOOKSCOPE_FIXTURES) + "/golden/gpt2-tiny";
const QString kGoldenTokens = "0,17,42,99,128,255,256,300,411,500,7,511";

} // namespace

class TestCliInterventions : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    // generate --intervene --export records exactly what run --intervene --export records
    // over its output (the SPECs as the export wrote them), bit for bit; the export
    // names each SPEC and each file with its digest.
    void interventionsGenerateEqualsRun() {
        const fs::path dir = dir_.path().toStdString();
        write_safetensors(dir / "steer.safetensors", {{"v", at::linspace(-2, 2, 64)}});
        const QString steer = QString::fromStdString((dir / "steer.safetensors").string());
        const QString generated = dir_.filePath("intervened-generate.safetensors");
        const QStringList specs{"--intervene", "blocks.0.attn.hook_z@1=zero",
                                "--intervene", "blocks.0.hook_mlp_out=mean",
                                "--intervene", "blocks.1.hook_resid_pre:5-15=add:" + steer + "*0.5"};
        const Result g = run_hookscope(QStringList{"generate", "--model", kGpt2, "--tokens", kGoldenTokens,
                                                   "--max-new-tokens", "6", "--greedy", "--export", generated} +
                                       specs);
        QCOMPARE(g.code, 0);
        const auto from_generate = SafetensorsFile::open(generated.toStdString());
        const auto recorded = nlohmann::json::parse(from_generate->metadata().at("interventions"));
        QCOMPARE(recorded.size(), std::size_t(3));
        QCOMPARE(recorded[1]["spec"].get<std::string>(), "blocks.0.hook_mlp_out=mean:0-11"); // resolved
        QCOMPARE(recorded[2]["files"][steer.toStdString()]["sha256"].get<std::string>().size(), std::size_t(64));

        const auto tokens = nlohmann::json::parse(from_generate->metadata().at("token_ids"));
        QStringList ids, resolved;
        for (const auto& id : tokens)
            ids << QString::number(id.get<int64_t>());
        for (const auto& item : recorded)
            resolved << "--intervene" << QString::fromStdString(item["spec"].get<std::string>());
        const QString ran = dir_.filePath("intervened-run.safetensors");
        const Result r =
            run_hookscope(QStringList{"run", "--model", kGpt2, "--tokens", ids.join(','), "--export", ran} + resolved);
        QCOMPARE(r.code, 0);
        const auto from_run = SafetensorsFile::open(ran.toStdString());
        QCOMPARE(from_run->metadata().at("interventions"), from_generate->metadata().at("interventions"));
        QCOMPARE(from_run->tensors().size(), from_generate->tensors().size());
        for (const TensorInfo& info : from_run->tensors())
            QVERIFY2(at::equal(from_run->tensor(info.name), from_generate->tensor(info.name)), info.name.c_str());
        // And the interventions acted: the zeroed head is zero in the export.
        QCOMPARE(from_run->tensor("blocks.0.attn.hook_z").select(2, 1).abs().max().item<float>(), 0.0f);
    }

    // `patch --json` on the golden pair gives Hugging Face's sweeps.
    void patchJsonFollowsTheDesign() {
        const auto reference = SafetensorsFile::open((kGpt2 + "/interventions.safetensors").toStdString());
        const auto ids_of = [&](const std::string& key) {
            QStringList ids;
            const at::Tensor t = reference->tensor(key).reshape({-1});
            for (int64_t i = 0; i < t.numel(); ++i)
                ids << QString::number(t[i].item<int64_t>());
            return ids.join(',');
        };
        const Result r = run_hookscope({"patch", "--model", kGpt2, "--clean-tokens", ids_of("clean_ids"),
                                        "--corrupted-tokens", ids_of("input_ids"), "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["answer"].get<int64_t>(), std::stoll(reference->metadata().at("answer")));
        QCOMPARE(j["wrong"].get<int64_t>(), std::stoll(reference->metadata().at("wrong")));
        QCOMPARE(j["layers"].get<int>(), 2);
        QCOMPARE(j["positions"].get<int>(), 12);
        QCOMPARE(j["heads"].get<int>(), 4);
        const double clean = j["clean_logit_diff"].get<double>(), corrupted = j["corrupted_logit_diff"].get<double>();
        QVERIFY(std::abs(clean - std::stod(reference->metadata().at("clean_logit_diff"))) < 1e-4);
        for (const std::string site : {"resid_pre", "attn_out", "mlp_out", "head_out"}) {
            const at::Tensor expected = reference->tensor("sweep." + site);
            const auto& grid = j["sites"][site];
            QCOMPARE(grid.size(), std::size_t(expected.size(0)));
            for (int64_t l = 0; l < expected.size(0); ++l) {
                for (int64_t c = 0; c < expected.size(1); ++c) {
                    const double value = grid[l][c].get<double>();
                    QVERIFY(std::abs(value - expected[l][c].item<double>()) < 1e-4);
                    const double normalized = j["normalized"][site][l][c].get<double>();
                    QVERIFY(std::abs(normalized - (value - corrupted) / (clean - corrupted)) < 1e-9);
                }
            }
        }
        const Result sites = run_hookscope({"patch", "--model", kGpt2, "--clean-tokens", ids_of("clean_ids"),
                                            "--corrupted-tokens", ids_of("input_ids"), "--sites", "head_out"});
        QCOMPARE(sites.code, 0);
        QVERIFY2(sites.out.contains("head_out (normalized") && !sites.out.contains("resid_pre"), qPrintable(sites.out));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCliInterventions)

} // namespace tst_cli_interventions
#include "tst_cli_interventions.moc"
