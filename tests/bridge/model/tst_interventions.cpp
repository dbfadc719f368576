// Interventions against Hugging Face's own (tests/fixtures/golden/*/interventions.safetensors:
// transformers with PyTorch hooks making the same change), and the promises around
// generation: KV-cached and uncached agree, and generate's recompute equals a run over
// its output with the same interventions, bit for bit.

#include "bridge/analysis/patching.h"
#include "bridge/core/errors.h"
#include "bridge/core/intervention_spec.h"
#include "bridge/io/export.h"
#include "bridge/io/intervention_files.h"
#include "bridge/model/generate.h"
#include "bridge/model/interventions.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/error_text.h"
#include "support/tensor_compare.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace tst_interventions {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

std::vector<int64_t> ids(const at::Tensor& t) {
    const at::Tensor flat = t.reshape({-1}).to(at::kLong).contiguous();
    return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

// A golden checkpoint with its intervention references, and a folder holding the
// files the reference SPECs name: steer.safetensors (the steering vector alone) and
// clean.safetensors (our export of the run over the clean prompt).
struct Golden {
    std::unique_ptr<Model> model;
    std::shared_ptr<const SafetensorsFile> references;
    nlohmann::json cases;
    QTemporaryDir dir;
    fs::path base;
    std::vector<int64_t> input, clean;

    explicit Golden(const std::string& name) {
        model = Model::load(kGolden / name);
        references = SafetensorsFile::open(kGolden / name / "interventions.safetensors");
        cases = nlohmann::json::parse(references->metadata().at("cases"));
        base = dir.path().toStdString();
        input = ids(references->tensor("input_ids"));
        clean = ids(references->tensor("clean_ids"));
        write_safetensors(base / "steer.safetensors", {{"steer_vector", references->tensor("steer_vector")}});
        // A [Dh] vector for one head, and a [D] vector stored under two names.
        const int64_t d_head = model->config().d_head;
        write_safetensors(base / "head.safetensors", {{"v", at::linspace(-1, 1, d_head)}});
        write_safetensors(base / "two.safetensors",
                          {{"a", at::ones({model->config().d_model})}, {"b", at::zeros({model->config().d_model})}});
        export_cache(model->run_with_cache(clean), base / "clean.safetensors", ExportInfo{});
    }

    at::Tensor reference(const std::string& key) const { return references->tensor(key).to(at::kFloat); }

    Interventions load(const std::vector<std::string>& specs, int64_t first_pass, int64_t longest) const {
        InterventionContext context;
        context.base = base;
        context.first_pass_length = first_pass;
        context.max_positions = longest;
        return load_interventions(specs, *model, context);
    }
};

const char* const kModels[] = {"gpt2-tiny", "pythia-tiny", "llama-tiny"};

} // namespace

class TestInterventions : public QObject {
    Q_OBJECT

private slots:
    void specTextRoundTrips_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("canonical");
        QTest::newRow("zero head") << "blocks.0.attn.hook_z@1=zero"
                                   << "blocks.0.attn.hook_z@1=zero";
        QTest::newRow("positions") << " blocks.1.attn.hook_z@0:2-5=zero "
                                   << "blocks.1.attn.hook_z@0:2-5=zero";
        QTest::newRow("one position") << "blocks.1.hook_resid_pre:3-3=patch:clean.safetensors"
                                      << "blocks.1.hook_resid_pre:3=patch:clean.safetensors";
        QTest::newRow("mean") << "blocks.0.hook_mlp_out=mean"
                              << "blocks.0.hook_mlp_out=mean";
        QTest::newRow("mean range") << "blocks.0.hook_mlp_out=mean:0-11"
                                    << "blocks.0.hook_mlp_out=mean:0-11";
        QTest::newRow("add scale") << "blocks.1.hook_resid_pre=add:steer.safetensors*2.5"
                                   << "blocks.1.hook_resid_pre=add:steer.safetensors*2.5";
        QTest::newRow("add key exp") << "hook_embed=add:dir/v.safetensors#steer_vector*-1e-1"
                                     << "hook_embed=add:dir/v.safetensors#steer_vector*-0.1";
        QTest::newRow("scale one") << "hook_embed=add:v.safetensors*1.0"
                                   << "hook_embed=add:v.safetensors";
        QTest::newRow("pinned") << "blocks.0.attn.hook_pattern@3=patch:@pinned"
                                << "blocks.0.attn.hook_pattern@3=patch:@pinned";
    }
    void specTextRoundTrips() {
        QFETCH(QString, text);
        QFETCH(QString, canonical);
        const InterventionSpec spec = InterventionSpec::parse(text.toStdString());
        QCOMPARE(QString::fromStdString(spec.to_string()), canonical);
        QVERIFY(InterventionSpec::parse(spec.to_string()) == spec);
    }

    void specFieldsAreRead() {
        const auto spec = InterventionSpec::parse("blocks.2.attn.hook_v@1:4-9=add:a=b.safetensors#key*-2.5e0");
        QCOMPARE(spec.point.site, Site::AttnV);
        QCOMPARE(spec.point.layer, 2);
        QCOMPARE(*spec.head, int64_t(1));
        QVERIFY(spec.positions == (PositionRange{4, 9}));
        QCOMPARE(spec.action, InterventionAction::Add);
        QCOMPARE(spec.file, std::string("a=b.safetensors")); // only the first `=` separates
        QCOMPARE(spec.key, std::string("key"));
        QCOMPARE(spec.scale, -2.5);
        QVERIFY(resolved(InterventionSpec::parse("hook_embed=mean"), 7).mean_range == (PositionRange{0, 6}));
    }

    // Every malformed or unfitting SPEC is refused before any work, naming itself and
    // the reason.
    void badSpecsNameTheSpec_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("reason");
        QTest::newRow("empty") << ""
                               << "empty";
        QTest::newRow("no equals") << "blocks.0.hook_resid_pre"
                                   << "no `=`";
        QTest::newRow("unknown hook") << "blocks.0.hook_resid_middle=zero"
                                      << "not a hook point name";
        QTest::newRow("missing layer") << "blocks.7.hook_resid_pre=zero"
                                       << "no hook point `blocks.7.hook_resid_pre`";
        QTest::newRow("no head axis") << "blocks.0.hook_resid_pre@1=zero"
                                      << "has no head axis";
        QTest::newRow("head range") << "blocks.0.attn.hook_z@4=zero"
                                    << "head 4 is out of range";
        QTest::newRow("bad head") << "blocks.0.attn.hook_z@x=zero"
                                  << "head `x`";
        QTest::newRow("positions past") << "blocks.0.hook_resid_pre:10-12=zero"
                                        << "reach past the sequence";
        QTest::newRow("backwards") << "blocks.0.hook_resid_pre:5-2=zero"
                                   << "ends before it starts";
        QTest::newRow("negative") << "blocks.0.hook_resid_pre:-1=zero"
                                  << "not a position";
        QTest::newRow("mean past") << "blocks.0.hook_mlp_out=mean:0-12"
                                   << "reach past the first forward pass";
        QTest::newRow("action") << "blocks.0.hook_mlp_out=ablate"
                                << "unknown action `ablate`";
        QTest::newRow("add on pattern") << "blocks.0.attn.hook_pattern=add:steer.safetensors"
                                        << "take only zero and patch";
        QTest::newRow("mean on scores") << "blocks.0.attn.hook_attn_scores=mean"
                                        << "take only zero and patch";
        QTest::newRow("no file") << "blocks.0.hook_resid_pre=add:missing.safetensors"
                                 << "no file";
        QTest::newRow("no add file") << "blocks.0.hook_resid_pre=add:*2"
                                     << "add needs a file";
        QTest::newRow("bad scale") << "blocks.0.hook_resid_pre=add:steer.safetensors*two"
                                   << "scale `two`";
        QTest::newRow("wrong shape") << "blocks.0.attn.hook_z@1=add:steer.safetensors"
                                     << "takes [16]";
        QTest::newRow("two tensors") << "blocks.0.hook_resid_pre=add:two.safetensors"
                                     << "name one with #KEY";
        QTest::newRow("missing key") << "blocks.0.hook_resid_pre=add:two.safetensors#c"
                                     << "no tensor `c`";
        QTest::newRow("patch key") << "blocks.0.hook_resid_pre=patch:clean.safetensors#x"
                                   << "without `#KEY`";
        QTest::newRow("source lacks hook") << "blocks.0.hook_resid_pre=patch:embed.safetensors"
                                           << "did not record `blocks.0.hook_resid_pre`";
        QTest::newRow("source lacks positions") << "blocks.0.hook_resid_pre:8=patch:short.safetensors"
                                                << "holds positions 0-3";
        QTest::newRow("no pinned run") << "blocks.0.hook_resid_pre=patch:@pinned"
                                       << "no pinned run";
    }
    void badSpecsNameTheSpec() {
        QFETCH(QString, text);
        QFETCH(QString, reason);
        Golden g("gpt2-tiny");
        export_cache(g.model->run_with_cache({1, 2, 3, 4}), g.base / "short.safetensors", ExportInfo{});
        export_cache(g.model->run_with_cache({1, 2, 3, 4}, NamesFilter("hook_embed")), g.base / "embed.safetensors",
                     ExportInfo{});
        const QString error = error_of([&] { g.load({text.toStdString()}, 10, 10); });
        QVERIFY2(error.startsWith("intervention `"), qPrintable(error));
        QVERIFY2(error.contains(reason), qPrintable(error));
        if (!text.isEmpty()) QVERIFY2(error.contains(text.section('=', 0, 0).section('@', 0, 0)), qPrintable(error));
    }

    // Hugging Face's logits under each reference SPEC, within 1e-4.
    void goldenCases_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("name");
        for (const char* model : kModels) {
            for (const char* name : {"zero_head", "zero_head_positions", "add_resid", "patch_resid", "mean_mlp"})
                QTest::newRow((std::string(model) + " " + name).c_str()) << model << name;
        }
    }
    void goldenCases() {
        QFETCH(QString, model);
        QFETCH(QString, name);
        const Golden g(model.toStdString());
        const std::string spec = g.cases.at(name.toStdString());
        const auto positions = static_cast<int64_t>(g.input.size());
        Interventions interventions = g.load({spec}, positions, positions);
        const at::Tensor logits = g.model->forward(g.input, &interventions);
        const at::Tensor expected = g.reference("case." + name.toStdString() + ".logits");
        const double diff = (logits - expected).abs().max().item<double>();
        qInfo("%s: max |logits - HF| = %.3g", spec.c_str(), diff);
        QVERIFY2(diff <= 1e-4, qPrintable(QString("%1 differs by %2").arg(QString::fromStdString(spec)).arg(diff)));
        // The case changes the logits well beyond that tolerance: it did act.
        const double moved = (g.model->forward(g.input) - expected).abs().max().item<double>();
        QVERIFY2(moved > 1e-3, qPrintable(QString("without the intervention: %1").arg(moved)));
    }

    // KV-cached greedy generation under the steering SPEC gives Hugging Face's tokens,
    // and uncached generation the same.
    void steeredGreedyTokens_data() {
        QTest::addColumn<QString>("model");
        for (const char* model : kModels)
            QTest::newRow(model) << model;
    }
    void steeredGreedyTokens() {
        QFETCH(QString, model);
        const Golden g(model.toStdString());
        const at::Tensor expected = g.references->tensor("steer_greedy_tokens");
        GenerateOptions o;
        o.max_new_tokens = expected.size(1) - static_cast<int64_t>(g.input.size());
        o.sampling.do_sample = false;
        o.stop_at_eos = false;
        o.interventions = g.load({g.cases.at("add_resid")}, 12, 12 + o.max_new_tokens);
        const GenerateResult cached = generate(*g.model, g.input, o);
        QCOMPARE(cached.tokens, ids(expected));
        o.use_kv_cache = false;
        QCOMPARE(generate(*g.model, g.input, o).tokens, cached.tokens);
        o.interventions = {};
        QVERIFY(generate(*g.model, g.input, o).tokens != cached.tokens); // the vector steers
    }

    // Under every action, on hooks before, inside and after attention, at positions in
    // the prompt and in the generated part: cached and uncached generation agree, and
    // generate's recompute equals run_with_cache over its output with the resolved
    // SPECs, bit for bit.
    void generationMatchesRun_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("spec");
        const char* const specs[] = {
            "blocks.0.attn.hook_z@1=zero",
            "blocks.1.attn.hook_z@0:2-15=zero",
            "blocks.0.hook_mlp_out=mean",
            "blocks.1.hook_resid_pre=add:steer.safetensors*2.5",
            "blocks.1.hook_resid_pre:3=patch:clean.safetensors",
            "blocks.0.attn.hook_pattern@2:5-14=zero",
            "blocks.1.attn.hook_attn_scores@0=zero",
            "blocks.0.attn.hook_v@1:10-17=add:head.safetensors*3",
            "blocks.1.ln2.hook_scale:13-16=mean:0-11",
            "blocks.0.ln1.hook_normalized=patch:clean.safetensors",
            "ln_final.hook_scale:14=mean:2-6",
            "unembed.hook_in:15-19=add:steer.safetensors",
        };
        for (const char* model : kModels) {
            for (const char* spec : specs)
                QTest::newRow((std::string(model) + " " + spec).c_str()) << model << spec;
        }
    }
    void generationMatchesRun() {
        QFETCH(QString, model);
        QFETCH(QString, spec);
        const Golden g(model.toStdString());
        GenerateOptions o;
        o.max_new_tokens = 8;
        o.sampling.do_sample = false;
        o.stop_at_eos = false;
        o.return_cache = true;
        o.interventions = g.load({spec.toStdString()}, 12, 20);
        const GenerateResult cached = generate(*g.model, g.input, o);
        QCOMPARE(cached.tokens.size(), std::size_t(20));

        o.use_kv_cache = false;
        const GenerateResult uncached = generate(*g.model, g.input, o);
        QCOMPARE(uncached.tokens, cached.tokens);

        Interventions again = g.load(o.interventions.texts(), 20, 20);
        const ActivationCache run = g.model->run_with_cache(cached.tokens, NamesFilter(), c10::kCPU, &again);
        QCOMPARE(cached.cache->names(), run.names());
        QVERIFY(at::equal(cached.cache->logits(), run.logits()));
        for (const auto& [name, tensor] : run.entries())
            QVERIFY2(at::equal((*cached.cache)[name], tensor), name.c_str());

        // The intervention acted on the recorded value where it applies.
        const InterventionSpec parsed = InterventionSpec::parse(spec.toStdString());
        const ActivationCache plain = g.model->run_with_cache(cached.tokens);
        QVERIFY(!at::equal(plain[parsed.point.to_string()], run[parsed.point.to_string()]));
    }

    // Zeroed scores leave the causal mask in place: the pattern is uniform over each
    // query's own keys and the past, and zero on future keys.
    void zeroedScoresStayCausal() {
        const Golden g("llama-tiny");
        Interventions interventions = g.load({"blocks.1.attn.hook_attn_scores@2=zero"}, 12, 12);
        const ActivationCache cache =
            g.model->run_with_cache(g.input, NamesFilter("blocks.1.attn.hook_pattern"), c10::kCPU, &interventions);
        const at::Tensor pattern = cache["blocks.1.attn.hook_pattern"][0][2];
        const at::Tensor rows = at::arange(1, 13, at::kFloat).reciprocal().unsqueeze(1);
        const at::Tensor expected = at::ones({12, 12}).tril() * rows;
        QVERIFY(at::allclose(pattern, expected, 0, 1e-6));
    }

    // A bare mean is the mean over the prompt's positions, written at every position,
    // the generated ones included.
    void meanCoversTheGeneratedPositions() {
        const Golden g("gpt2-tiny");
        GenerateOptions o;
        o.max_new_tokens = 4;
        o.sampling.do_sample = false;
        o.stop_at_eos = false;
        o.return_cache = true;
        o.names_filter = NamesFilter("blocks.0.hook_mlp_out");
        o.interventions = g.load({"blocks.0.hook_mlp_out=mean"}, 12, 16);
        QCOMPARE(o.interventions.texts(), std::vector<std::string>{"blocks.0.hook_mlp_out=mean:0-11"});
        const GenerateResult result = generate(*g.model, g.input, o);
        const at::Tensor recorded = (*result.cache)["blocks.0.hook_mlp_out"][0];
        const ActivationCache prompt = g.model->run_with_cache(g.input, NamesFilter("blocks.0.hook_mlp_out"));
        const at::Tensor mean = prompt["blocks.0.hook_mlp_out"][0].mean(0);
        for (int64_t p = 0; p < 16; ++p)
            QVERIFY(at::allclose(recorded[p], mean, 0, 1e-6));
    }

    // The four sweeps against Hugging Face's (within 1e-4), and each cell against a
    // plain full forward with that one patch (within 1e-5).
    void patchingSweep_data() {
        QTest::addColumn<QString>("model");
        for (const char* model : kModels)
            QTest::newRow(model) << model;
    }
    void patchingSweep() {
        QFETCH(QString, model);
        const Golden g(model.toStdString());
        PatchingRequest request;
        request.clean = g.clean;
        request.corrupted = g.input;
        int progress_calls = 0;
        PatchingCallbacks callbacks;
        callbacks.progress = [&](int64_t done, int64_t total) {
            ++progress_calls;
            QVERIFY(done <= total);
        };
        const auto result = patching_sweep(*g.model, request, callbacks);
        QVERIFY(result.has_value());
        QVERIFY(progress_calls > 0);
        const auto metadata = g.references->metadata();
        QCOMPARE(result->answer, std::stoll(metadata.at("answer")));
        QCOMPARE(result->wrong, std::stoll(metadata.at("wrong")));
        QVERIFY(std::abs(result->clean_logit_diff - std::stod(metadata.at("clean_logit_diff"))) <= 1e-4);
        QVERIFY(std::abs(result->corrupted_logit_diff - std::stod(metadata.at("corrupted_logit_diff"))) <= 1e-4);
        QCOMPARE(result->grids.size(), std::size_t(4));

        const ActivationCache clean = g.model->run_with_cache(g.clean);
        for (const PatchingGrid& grid : result->grids) {
            const std::string site(patch_site_name(grid.site));
            const at::Tensor expected = g.references->tensor("sweep." + site).to(at::kDouble);
            QCOMPARE(grid.logit_diff.sizes().vec(), expected.sizes().vec());
            const double diff = (grid.logit_diff - expected).abs().max().item<double>();
            qInfo("%s: max |sweep - HF| = %.3g", site.c_str(), diff);
            QVERIFY2(diff <= 1e-4, qPrintable(QString::fromStdString(site)));
            double loop_diff = 0;
            for (int layer = 0; layer < grid.logit_diff.size(0); ++layer) {
                for (int64_t cell = 0; cell < grid.logit_diff.size(1); ++cell) {
                    const double single = patched_logit_diff_by_full_forward(*g.model, g.input, clean, grid.site, layer,
                                                                             cell, result->answer, result->wrong);
                    loop_diff = std::max(loop_diff, std::abs(single - grid.logit_diff[layer][cell].item<double>()));
                }
            }
            qInfo("%s: max |sweep - loop of full forwards| = %.3g", site.c_str(), loop_diff);
            QVERIFY2(loop_diff <= 1e-5, qPrintable(QString::fromStdString(site)));
        }
        const at::Tensor normalized = *result->normalized(result->grids.front());
        QVERIFY(at::allclose(normalized, (result->grids.front().logit_diff - result->corrupted_logit_diff) /
                                             (result->clean_logit_diff - result->corrupted_logit_diff)));
    }

    void patchingSweepRefusesBadRequests() {
        const Golden g("gpt2-tiny");
        PatchingRequest request;
        request.clean = g.clean;
        request.corrupted = {1, 2, 3};
        QVERIFY(error_of([&] { patching_sweep(*g.model, request); }).contains("clean has 12, corrupted 3"));
        request.corrupted = g.input;
        request.answer = 5;
        request.wrong = 5;
        QVERIFY(error_of([&] { patching_sweep(*g.model, request); }).contains("the same token"));
        request.wrong = 100000;
        QVERIFY(!error_of([&] { patching_sweep(*g.model, request); }).isEmpty());
        request.wrong = 6;
        PatchingCallbacks stop;
        stop.cancelled = [] { return true; };
        QVERIFY(!patching_sweep(*g.model, request, stop).has_value());
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestInterventions)

} // namespace tst_interventions
#include "tst_interventions.moc"
