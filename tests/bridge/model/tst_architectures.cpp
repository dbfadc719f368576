// Architectures beyond GPT-2 against Hugging Face's own activations
// (tests/fixtures/golden), plus invariants of their hook points.

#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/model/arch/llama.h"
#include "bridge/model/checkpoint.h"
#include "bridge/model/generate.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kv_cache.h"
#include "bridge/model/layers.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/weights.h"
#include "support/error_text.h"
#include "support/kernel_level.h"
#include "support/random_checkpoint.h"
#include "support/reference_model.h"
#include "support/tensor_compare.h"
#include "support/token_ids.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <tuple>

namespace tst_architectures {

using namespace hookscope;
using hookscope::test::error_of;
using hookscope::test::ids_of;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kGolden = fs::path(HOOKSCOPE_FIXTURES) / "golden";

json read_json(const fs::path& file) {
    std::ifstream in(file);
    return json::parse(in);
}

// A copy of a golden checkpoint folder with its config edited and its tensors changed.
fs::path variant(const QTemporaryDir& dir, const std::string& name, const std::string& golden, const json& config_patch,
                 const std::function<void(NamedTensors&)>& edit = {}) {
    const fs::path out = fs::path(dir.path().toStdString()) / name;
    fs::create_directories(out);
    json config = read_json(kGolden / golden / "config.json");
    config.merge_patch(config_patch);
    std::ofstream(out / "config.json") << config.dump();
    const auto file = SafetensorsFile::open(kGolden / golden / "model.safetensors");
    NamedTensors tensors;
    for (const TensorInfo& info : file->tensors())
        tensors.emplace_back(info.name, file->tensor(info.name).clone());
    if (edit) edit(tensors);
    write_safetensors(out / "model.safetensors", tensors);
    return out;
}

// `model` against `reference`, its float64 forward: every hook point of `cache` (the
// model's recompute over `tokens`) and its logits, then a prompt pass over the first
// `prompt` tokens and one decode step per token after, each within `tolerance` of the
// reference tensor's largest value (the masked scores, -inf in both, left out). Fails
// the calling test where one is not; the largest hook error and its hook point are
// written to `worst` and `worst_name`.
void expect_close_to_reference(const Model& model, const ActivationCache& cache, const Model& reference,
                               const std::vector<int64_t>& tokens, std::size_t prompt, double tolerance, double& worst,
                               std::string& worst_name) {
    const ActivationCache expected = reference.run_with_cache(tokens);
    QCOMPARE(cache.names(), expected.names());
    worst = 0;
    for (std::size_t k = 0; k < cache.size(); ++k) {
        const auto& [name, value] = cache.entries()[k];
        QCOMPARE(value.scalar_type(), at::kFloat);
        QCOMPARE(value.sizes(), expected.entries()[k].second.sizes());
        const at::Tensor finite = at::isfinite(expected.entries()[k].second);
        const double error =
            test::relative_error(value.masked_select(finite), expected.entries()[k].second.masked_select(finite));
        if (error > worst) worst = error, worst_name = name;
        QVERIFY2(error <= tolerance, qPrintable(QString("%1: %2").arg(QString::fromStdString(name)).arg(error)));
    }
    const double logits_error = test::relative_error(cache.logits(), expected.logits());
    QVERIFY2(logits_error <= tolerance, qPrintable(QString("logits: %1").arg(logits_error)));

    const auto past = model.new_kv_cache(static_cast<int64_t>(tokens.size()));
    const at::Tensor prompt_logits =
        model.decode({tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(prompt)}, *past);
    QVERIFY(test::relative_error(prompt_logits, expected.logits()[0][static_cast<int64_t>(prompt) - 1]) <= tolerance);
    for (std::size_t n = prompt; n < tokens.size(); ++n) {
        const at::Tensor step = model.decode({tokens[n]}, *past);
        const double error = test::relative_error(step, expected.logits()[0][static_cast<int64_t>(n)]);
        QVERIFY2(error <= tolerance, qPrintable(QString("step %1: %2").arg(n).arg(error)));
    }
}

} // namespace

class TestArchitectures : public QObject {
    Q_OBJECT

private slots:
    // The architecture registry's two halves: every model type config.json may name
    // has a forward, and every forward is reachable from a config.
    void registryHalvesListTheSameTypes() {
        std::vector<std::string_view> parsed = config_model_types(), built = factory_model_types();
        std::sort(parsed.begin(), parsed.end());
        std::sort(built.begin(), built.end());
        QVERIFY(!parsed.empty());
        QVERIFY(std::adjacent_find(parsed.begin(), parsed.end()) == parsed.end());
        QCOMPARE(built, parsed);
    }

    void matchesHuggingFace_data() {
        QTest::addColumn<QString>("folder");
        QTest::newRow("pythia-tiny") << QString("pythia-tiny");
        QTest::newRow("llama-tiny") << QString("llama-tiny");
    }

    void matchesHuggingFace() {
        QFETCH(QString, folder);
        const fs::path dir = kGolden / folder.toStdString();
        const auto model = Model::load(dir);
        const auto golden = SafetensorsFile::open(dir / "golden.safetensors");
        const std::vector<int64_t> tokens = ids_of(golden->tensor("input_ids"));
        const ActivationCache cache = model->run_with_cache(tokens);
        const int layers = static_cast<int>(model->config().n_layers);
        HS_COMPARE_TENSORS(cache.logits(), golden->tensor("logits"), "logits");
        HS_COMPARE_TENSORS(cache["unembed.hook_in"], golden->tensor("hidden_states." + std::to_string(layers)),
                           "unembed.hook_in");
        HS_COMPARE_TENSORS(cache["blocks." + std::to_string(layers - 1) + ".hook_resid_post"],
                           golden->tensor("final_norm_input"), "last hook_resid_post");
        for (int i = 0; i < layers; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".", n = std::to_string(i);
            HS_COMPARE_TENSORS(cache[b + "hook_resid_pre"], golden->tensor("hidden_states." + n), b + "hook_resid_pre");
            HS_COMPARE_TENSORS(cache[b + "attn.hook_pattern"], golden->tensor("attentions." + n),
                               b + "attn.hook_pattern");
            HS_COMPARE_TENSORS(cache[b + "hook_attn_out"], golden->tensor("attn_out." + n), b + "hook_attn_out");
            HS_COMPARE_TENSORS(cache[b + "hook_mlp_out"], golden->tensor("mlp_out." + n), b + "hook_mlp_out");
        }
        // Every hook point of the table, in order, with its shape.
        QCOMPARE(cache.size(), model->hook_points().size());
        for (std::size_t k = 0; k < cache.size(); ++k) {
            QCOMPARE(cache.entries()[k].first, model->hook_points()[k].name);
            QCOMPARE(cache.entries()[k].second.sizes().vec(),
                     concrete_shape(model->hook_points()[k], static_cast<int64_t>(tokens.size())));
        }
        // Greedy generation reproduces Hugging Face's, cached and uncached.
        for (const bool cached : {true, false}) {
            GenerateOptions o;
            o.max_new_tokens = 10;
            o.sampling.do_sample = false;
            o.use_kv_cache = cached;
            QCOMPARE(generate(*model, tokens, o).tokens, ids_of(golden->tensor("greedy_tokens")));
        }
    }

    void llamaHookInvariants() {
        const auto model = Model::load(kGolden / "llama-tiny");
        const ModelConfig& c = model->config();
        QCOMPARE(c.n_kv_heads, 2);
        const std::vector<int64_t> tokens{1, 17, 42, 99, 128, 255, 300};
        const ActivationCache cache = model->run_with_cache(tokens);
        QCOMPARE(cache["blocks.0.attn.hook_k"].sizes().vec(), (std::vector<int64_t>{1, 7, 2, 16}));
        QCOMPARE(cache["blocks.0.attn.hook_rot_k"].sizes().vec(), (std::vector<int64_t>{1, 7, 2, 16}));
        QCOMPARE(cache["blocks.0.attn.hook_pattern"].sizes().vec(), (std::vector<int64_t>{1, 4, 7, 7}));
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            const at::Tensor pre = cache[b + "hook_resid_pre"];
            HS_COMPARE_TENSORS(cache[b + "ln1.hook_scale"], (pre.pow(2).mean(-1, true) + c.norm_eps).sqrt(),
                               b + "RMS scale");
            HS_COMPARE_TENSORS(cache[b + "ln1.hook_normalized"] * cache[b + "ln1.hook_scale"], pre,
                               b + "normalized x scale = input");
            HS_COMPARE_TENSORS(cache[b + "mlp.hook_post"],
                               at::silu(cache[b + "mlp.hook_pre"]) * cache[b + "mlp.hook_pre_linear"],
                               b + "post = silu(gate) x up");
            HS_COMPARE_TENSORS(cache[b + "hook_resid_mid"], pre + cache[b + "hook_attn_out"], b + "resid_mid");
            // Query head 3 reads kv head 1 (grouped-query attention).
            const at::Tensor qh = cache[b + "attn.hook_rot_q"][0].select(1, 3);
            const at::Tensor kh = cache[b + "attn.hook_rot_k"][0].select(1, 1);
            const at::Tensor keep = at::ones({7, 7}, at::kBool).tril();
            HS_COMPARE_TENSORS(cache[b + "attn.hook_attn_scores"][0][3].masked_select(keep),
                               (at::matmul(qh, kh.t()) / 4.0).masked_select(keep), b + "GQA scores head 3");
        }
        const auto past = model->new_kv_cache(7);
        for (std::size_t n = 1; n <= tokens.size(); ++n) {
            HS_COMPARE_TENSORS(model->decode({tokens[n - 1]}, *past), cache.logits()[0][static_cast<int64_t>(n - 1)],
                               "decode step");
        }
    }

    void sequentialNeox() {
        QTemporaryDir dir;
        const auto model = Model::load(variant(dir, "neox-seq", "pythia-tiny", {{"use_parallel_residual", false}}));
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128};
        const ActivationCache cache = model->run_with_cache(tokens);
        const auto past = model->new_kv_cache(5);
        for (std::size_t n = 1; n <= tokens.size(); ++n) {
            HS_COMPARE_TENSORS(model->decode({tokens[n - 1]}, *past), cache.logits()[0][static_cast<int64_t>(n - 1)],
                               "sequential decode step");
        }
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            const at::Tensor mid = cache[b + "hook_resid_mid"];
            HS_COMPARE_TENSORS(mid, cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"], b + "resid_mid");
            HS_COMPARE_TENSORS(cache[b + "hook_resid_post"], mid + cache[b + "hook_mlp_out"], b + "resid_post");
            // ln2 reads resid_mid: its scale is resid_mid's.
            const at::Tensor centred = mid - mid.mean(-1, true);
            HS_COMPARE_TENSORS(cache[b + "ln2.hook_scale"], (centred.pow(2).mean(-1, true) + 1e-5).sqrt(),
                               b + "ln2 input is resid_mid");
        }
    }

    void qwen2BiasesAndTiedEmbeddings() {
        QTemporaryDir dir;
        at::manual_seed(5);
        const fs::path qwen = variant(dir, "qwen2", "llama-tiny", {{"model_type", "qwen2"}}, [](NamedTensors& t) {
            for (int i = 0; i < 2; ++i) {
                const std::string a = "model.layers." + std::to_string(i) + ".self_attn.";
                t.emplace_back(a + "q_proj.bias", at::randn({64}));
                t.emplace_back(a + "k_proj.bias", at::randn({32}));
                t.emplace_back(a + "v_proj.bias", at::randn({32}));
            }
        });
        const auto model = Model::load(qwen);
        QCOMPARE(model->config().architecture, std::string("Qwen2"));
        const auto weights = SafetensorsFile::open(qwen / "model.safetensors");
        const ActivationCache cache = model->run_with_cache({1, 17, 42, 99});
        const at::Tensor x =
            cache["blocks.0.ln1.hook_normalized"] * weights->tensor("model.layers.0.input_layernorm.weight");
        HS_COMPARE_TENSORS(cache["blocks.0.attn.hook_q"].flatten(2),
                           at::linear(x, weights->tensor("model.layers.0.self_attn.q_proj.weight"),
                                      weights->tensor("model.layers.0.self_attn.q_proj.bias")),
                           "q = x W_q^T + b_q");
        HS_COMPARE_TENSORS(cache["blocks.0.attn.hook_v"].flatten(2),
                           at::linear(x, weights->tensor("model.layers.0.self_attn.v_proj.weight"),
                                      weights->tensor("model.layers.0.self_attn.v_proj.bias")),
                           "v = x W_v^T + b_v");

        const fs::path tied = variant(dir, "tied", "llama-tiny", {{"tie_word_embeddings", true}}, [](NamedTensors& t) {
            std::erase_if(t, [](const auto& entry) { return entry.first == "lm_head.weight"; });
        });
        const auto tied_model = Model::load(tied);
        const ActivationCache tied_cache = tied_model->run_with_cache({1, 17, 42});
        HS_COMPARE_TENSORS(
            tied_cache.logits(),
            at::matmul(tied_cache["unembed.hook_in"],
                       SafetensorsFile::open(tied / "model.safetensors")->tensor("model.embed_tokens.weight").t()),
            "tied unembedding");
        // Untied without lm_head is an error naming the tensor.
        const fs::path broken = variant(dir, "untied-no-head", "llama-tiny", json::object(), [](NamedTensors& t) {
            std::erase_if(t, [](const auto& entry) { return entry.first == "lm_head.weight"; });
        });
        QVERIFY(error_of([&] { Model::load(broken); }).contains("lm_head.weight"));
    }

    void explicitHeadDim() {
        ModelConfig c = parse_model_config(json{{"model_type", "llama"},
                                                {"num_hidden_layers", 1},
                                                {"num_attention_heads", 4},
                                                {"num_key_value_heads", 2},
                                                {"hidden_size", 32},
                                                {"head_dim", 4},
                                                {"intermediate_size", 48},
                                                {"vocab_size", 40},
                                                {"max_position_embeddings", 16}}
                                               .dump(),
                                           "test config");
        QCOMPARE(c.d_head, 4);
        at::manual_seed(9);
        const auto model = make_llama(c, InMemoryWeights(test::random_llama_weights(c, 0.2), "random"), "in memory");
        const std::vector<int64_t> tokens{3, 7, 11, 2, 39};
        const ActivationCache cache = model->run_with_cache(tokens);
        QCOMPARE(cache["blocks.0.attn.hook_z"].sizes().vec(), (std::vector<int64_t>{1, 5, 4, 4}));
        QCOMPARE(cache["blocks.0.attn.hook_v"].sizes().vec(), (std::vector<int64_t>{1, 5, 2, 4}));
        QCOMPARE(cache["blocks.0.hook_attn_out"].sizes().vec(), (std::vector<int64_t>{1, 5, 32}));
        const auto past = model->new_kv_cache(5);
        HS_COMPARE_TENSORS(model->decode(tokens, *past), cache.logits()[0][4], "prefill logits");
    }

    // Weights with rows longer than layers::kMostBlockColumns are held in column blocks
    // (o_proj and down_proj here: 2080 inputs, two blocks of 1040). The recompute (each
    // block through the blocked product), the prompt pass and the decode steps (the
    // blocks one after another into each output) match the float64 forward on the same
    // bfloat16-rounded weights, and the analysis views get o_proj back whole. The
    // tolerance follows matchFloat64Reference with K = 2080: 6 · sqrt(2080) · 2^-24 =
    // 1.6e-5 per product, eleven roundings in a chain (norm, q, scores, softmax, z, o,
    // norm, gate, down, final norm, unembedding), each at most doubled by what follows:
    // 11 · 2 · 1.6e-5 ≈ 3.6e-4.
    void longRowsInColumnBlocks() {
        constexpr double kTolerance = 3.6e-4;
        QCOMPARE(layers::column_block_count(2080), 2);
        const ModelConfig c = parse_model_config(json{{"model_type", "llama"},
                                                      {"num_hidden_layers", 1},
                                                      {"num_attention_heads", 2},
                                                      {"num_key_value_heads", 1},
                                                      {"hidden_size", 32},
                                                      {"head_dim", 1040},
                                                      {"intermediate_size", 2080},
                                                      {"vocab_size", 40},
                                                      {"max_position_embeddings", 16}}
                                                     .dump(),
                                                 "test config");
        at::manual_seed(21);
        const NamedTensors w = test::random_llama_weights(c, 0.05);
        InMemoryWeights bf16(w, "random");
        bf16.set_precision(Precision::BFloat16);
        const auto model = Model::from_weights(c, bf16, "in memory");
        const auto reference = test::float64_reference(c, w, Precision::BFloat16, "in memory");
        const std::vector<int64_t> tokens{3, 7, 11, 2, 39, 5};
        double worst = 0;
        std::string worst_name;
        expect_close_to_reference(*model, model->run_with_cache(tokens), *reference, tokens, 3, kTolerance, worst,
                                  worst_name);
        const ReadoutWeights readout = model->readout_weights();
        const at::Tensor o_proj = bf16.weight("model.layers.0.self_attn.o_proj.weight", {32, 2080});
        QVERIFY(at::equal(readout.layers.at(0).w_o, o_proj.t().reshape({2, 1040, 32})));
    }

    // A BF16 checkpoint (the float32 fixture rounded to bfloat16) loads, says so, and
    // computes in float32 close to the float32 checkpoint: the weights differ by at most
    // 2^-8 relative, which moves these logits by well under 0.05.
    void bf16CheckpointsComputeInFloat32() {
        QTemporaryDir dir;
        const fs::path bf16 =
            variant(dir, "llama-bf16", "llama-tiny", {{"torch_dtype", "bfloat16"}}, [](NamedTensors& t) {
                for (auto& [name, tensor] : t)
                    tensor = tensor.to(at::kBFloat16);
            });
        QCOMPARE(Checkpoint::open(bf16).storage_dtypes(), std::string("BF16"));
        const std::vector<int64_t> tokens{1, 17, 42, 99, 128};
        const at::Tensor reference = Model::load(kGolden / "llama-tiny")->forward(tokens);
        const at::Tensor logits = Model::load(bf16)->forward(tokens);
        QCOMPARE(logits.scalar_type(), at::kFloat);
        const double worst = (logits - reference).abs().max().item<double>();
        qInfo("BF16 checkpoint vs float32: max |logit diff| = %.3g", worst);
        QVERIFY2(worst < 0.05, qPrintable(QString::number(worst)));
        QVERIFY(worst > 0); // the rounding did happen
    }

    void modelsThatCannotFitAreRefused() {
        const QString message = error_of([] { require_memory(2'500'000'000, 1'000'000'000, "/m (BF16 weights)"); });
        QVERIFY2(message.contains("/m (BF16 weights)") && message.contains("needs 2.5 GB") &&
                     message.contains("only 1.0 GB is available"),
                 qPrintable(message));
        require_memory(10, 10, "fits"); // no throw
        QVERIFY(available_memory_bytes().value_or(1) > 0);
        // Float32: 4 bytes a parameter. Bfloat16: 2 for each matrix element, 4 for the
        // rest (llama-tiny's norm weights: 2 per layer and the final one, d_model each).
        const Checkpoint llama = Checkpoint::open(kGolden / "llama-tiny");
        const auto model = Model::load(kGolden / "llama-tiny");
        const auto params = static_cast<std::uintmax_t>(model->parameter_count());
        QCOMPARE(llama.compute_bytes(Precision::Float32), params * 4);
        const auto vector_params =
            static_cast<std::uintmax_t>((2 * model->config().n_layers + 1) * model->config().d_model);
        QCOMPARE(llama.compute_bytes(Precision::BFloat16), (params - vector_params) * 2 + vector_params * 4);
        const QString bf16_message = error_of([] { require_memory(3, 2, "m", Precision::BFloat16); });
        QVERIFY2(bf16_message.contains("in bfloat16"), qPrintable(bf16_message));
    }

    void matchFloat64Reference_data() {
        QTest::addColumn<QString>("folder");
        QTest::addColumn<int>("precision");
        for (const char* folder : {"gpt2-tiny", "pythia-tiny", "llama-tiny"}) {
            for (const Precision p : {Precision::Float32, Precision::BFloat16}) {
                QTest::addRow("%s, %s", folder, precision_name(p).data()) << QString(folder) << static_cast<int>(p);
            }
        }
    }

    // Every hook point of a float32 or bfloat16 forward (run_with_cache and token-by-token
    // decoding) against the float64 forward on the same weights, rounded to bfloat16 where
    // the model holds them so (precision.h: the weights are the only bfloat16 rounding).
    //
    // The tolerance comes from float32 arithmetic alone, u = 2^-24. A dot product of K
    // terms rounded in any order is within λ·sqrt(K)·u·Σ|w·x| of the exact one with
    // probability 1 - 2·exp(-λ²/2) (Higham and Mary's probabilistic bound); with λ = 6 and
    // K ≤ 256 (these models' widest products) that is 5.8e-6 relative. An output here
    // depends on at most 16 such roundings in a chain (2 blocks of norm, qkv, scores,
    // softmax, z, out, norm, in, out; the final norm and the unembedding), and the norms
    // and the softmax return relative errors at most doubled, so 16 · 2 · 5.8e-6 ≈ 1.9e-4
    // of each tensor's largest value. Rounding the inputs of the products to bfloat16 as
    // well would add 2^-9 ≈ 2e-3: ten times the bound, which this test would catch.
    void matchFloat64Reference() {
        QFETCH(QString, folder);
        QFETCH(int, precision);
        constexpr double kTolerance = 2e-4;
        const fs::path dir = kGolden / folder.toStdString();
        const auto model = Model::load(dir, static_cast<Precision>(precision));
        const auto reference = test::float64_reference(dir, static_cast<Precision>(precision));
        QCOMPARE(reference->precision(), Precision::Float64);
        QCOMPARE(model->precision(), static_cast<Precision>(precision));
        QCOMPARE(model->parameter_count(), reference->parameter_count());

        const std::vector<int64_t> tokens{1, 17, 42, 99, 128, 7, 3, 511, 64};
        const ActivationCache cache = model->run_with_cache(tokens);
        double worst = 0;
        std::string worst_name;
        // Decoding: the prompt pass over the first four tokens, then one token a step.
        expect_close_to_reference(*model, cache, *reference, tokens, 4, kTolerance, worst, worst_name);
        qInfo("at %s: largest error %.3g (%s), bound %.1g", kernels::level_name(kernels::level()), worst,
              worst_name.c_str(), kTolerance);

        // The bound separates: bfloat16 weights move the logits far past it.
        if (static_cast<Precision>(precision) == Precision::BFloat16) {
            const auto unrounded = test::float64_reference(dir, Precision::Float32);
            QVERIFY(test::relative_error(cache.logits(), unrounded->forward(tokens)) > 10 * kTolerance);
        }
    }

    void decodeStepsFireTheRecomputesHooks_data() {
        QTest::addColumn<QString>("folder");
        QTest::addColumn<QString>("filter");
        for (const char* folder : {"gpt2-tiny", "pythia-tiny", "llama-tiny"}) {
            QTest::addRow("%s, every hook", folder) << QString(folder) << QString();
            // Without the attention matrices a decode step takes the attention kernel.
            QTest::addRow("%s, no attention matrices", folder)
                << QString(folder) << QString("/^(?!.*attn_scores|.*pattern)/");
        }
    }

    // A hook point recorded on a decode step (and on the prompt pass) equals the same
    // positions of the recompute over the whole sequence.
    void decodeStepsFireTheRecomputesHooks() {
        QFETCH(QString, folder);
        QFETCH(QString, filter);
        const auto model = Model::load(kGolden / folder.toStdString());
        const NamesFilter names(filter.toStdString());
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128, 255, 300};
        const ActivationCache full = model->run_with_cache(tokens);
        const auto past = model->new_kv_cache(static_cast<int64_t>(tokens.size()));
        int64_t start = 0;
        for (const int64_t count : {3, 1, 1, 1, 1}) {
            const std::vector<int64_t> step_tokens(tokens.begin() + start, tokens.begin() + start + count);
            const ActivationCache step = model->decode_with_cache(step_tokens, *past, names);
            QVERIFY(!step.empty());
            for (const auto& [name, value] : step.entries()) {
                QVERIFY(names.matches(name));
                at::Tensor expected = full[name];
                if (is_attention_matrix(name)) { // [B,H,P,T]: the new queries over every key so far
                    expected = expected.slice(2, start, start + count).slice(3, 0, start + count);
                } else if (name.starts_with("ln_final") || name.starts_with("unembed")) { // the last position only
                    expected = expected.slice(1, start + count - 1, start + count);
                } else {
                    expected = expected.slice(1, start, start + count);
                }
                // The masked scores are -inf in both; the rest compare as numbers.
                QVERIFY(at::equal(at::isinf(value), at::isinf(expected)));
                HS_COMPARE_TENSORS(value.nan_to_num(0, 0, 0), expected.nan_to_num(0, 0, 0),
                                   name + " at " + std::to_string(start));
            }
            HS_COMPARE_TENSORS(step.logits(), full.logits().slice(1, start + count - 1, start + count), "step logits");
            start += count;
        }
        QCOMPARE(past->length(), static_cast<int64_t>(tokens.size()));
    }

    // TransformerLens' norms, from hook_scale, the residual input and the weights:
    // LayerNorm's hook_normalized is its output (x - mean) / scale * w + b, RMSNorm's is
    // x / scale before the weight.
    void normHooksFollowTransformerLens_data() {
        QTest::addColumn<QString>("folder");
        QTest::newRow("pythia-tiny") << QString("pythia-tiny");
        QTest::newRow("llama-tiny") << QString("llama-tiny");
    }

    void normHooksFollowTransformerLens() {
        QFETCH(QString, folder);
        const fs::path dir = kGolden / folder.toStdString();
        const bool rms = folder == "llama-tiny";
        const auto model = Model::load(dir);
        const auto file = SafetensorsFile::open(dir / "model.safetensors");
        const ActivationCache cache = model->run_with_cache({0, 17, 42, 99, 128, 255});
        const double eps = model->config().norm_eps;
        const std::string prefix = rms ? "model.layers.1." : "gpt_neox.layers.1.";
        const std::string final_norm = rms ? "model.norm" : "gpt_neox.final_layer_norm";
        for (const auto& [hook, input, weights] : std::vector<std::tuple<std::string, std::string, std::string>>{
                 {"blocks.1.ln1", "blocks.1.hook_resid_pre", prefix + "input_layernorm"},
                 // Pythia's parallel block: ln2 reads resid_pre as well.
                 {"blocks.1.ln2", rms ? "blocks.1.hook_resid_mid" : "blocks.1.hook_resid_pre",
                  prefix + "post_attention_layernorm"},
                 {"ln_final", "blocks.1.hook_resid_post", final_norm}}) {
            const at::Tensor x = cache[input], scale = cache[hook + ".hook_scale"];
            const at::Tensor w = file->tensor(weights + ".weight");
            if (rms) {
                HS_COMPARE_TENSORS(scale, (x.pow(2).mean(-1, true) + eps).sqrt(), hook + " scale = rms(x)");
                HS_COMPARE_TENSORS(cache[hook + ".hook_normalized"], x / scale, hook + " normalized = x / scale");
            } else {
                const at::Tensor centred = x - x.mean(-1, true);
                HS_COMPARE_TENSORS(scale, (centred.pow(2).mean(-1, true) + eps).sqrt(), hook + " scale = std(x)");
                HS_COMPARE_TENSORS(cache[hook + ".hook_normalized"],
                                   centred / scale * w + file->tensor(weights + ".bias"),
                                   hook + " normalized = LayerNorm output");
            }
        }
        const at::Tensor final_out = rms ? cache["ln_final.hook_normalized"] * file->tensor(final_norm + ".weight")
                                         : cache["ln_final.hook_normalized"];
        HS_COMPARE_TENSORS(cache["unembed.hook_in"], final_out, "unembed.hook_in = the final norm's output");
    }

    void pythiaHookInvariants() {
        const auto model = Model::load(kGolden / "pythia-tiny");
        const std::vector<int64_t> tokens{0, 17, 42, 99, 128, 255, 300};
        const ActivationCache cache = model->run_with_cache(tokens);
        QVERIFY(!cache.contains("blocks.0.hook_resid_mid")); // parallel blocks
        QVERIFY(!cache.contains("hook_pos_embed"));          // rotary, no learned positions
        for (int i = 0; i < 2; ++i) {
            const std::string b = "blocks." + std::to_string(i) + ".";
            HS_COMPARE_TENSORS(cache[b + "hook_resid_post"],
                               cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"] + cache[b + "hook_mlp_out"],
                               b + "resid_post = pre + attn_out + mlp_out");
            // Rotary touches only the first rotary_dims = 4 of 16 dims, and not position 0.
            const at::Tensor q = cache[b + "attn.hook_q"], rot_q = cache[b + "attn.hook_rot_q"];
            QVERIFY(at::equal(q.slice(-1, 4), rot_q.slice(-1, 4)));
            HS_COMPARE_TENSORS(rot_q.select(1, 0), q.select(1, 0), "position 0 is not rotated");
            QVERIFY((rot_q.slice(-1, 0, 4) - q.slice(-1, 0, 4)).abs().max().item<double>() > 1e-3);
            // Scores are rotated queries against rotated keys.
            const at::Tensor qh = rot_q[0].select(1, 1), kh = cache[b + "attn.hook_rot_k"][0].select(1, 1);
            const at::Tensor scores = cache[b + "attn.hook_attn_scores"][0][1];
            const at::Tensor keep = at::ones({7, 7}, at::kBool).tril();
            HS_COMPARE_TENSORS(scores.masked_select(keep), (at::matmul(qh, kh.t()) / 4.0).masked_select(keep),
                               b + "scores head 1");
        }
        // Decoding position by position with the KV cache matches the full forward.
        const auto past = model->new_kv_cache(static_cast<int64_t>(tokens.size()));
        for (std::size_t n = 1; n <= tokens.size(); ++n) {
            const at::Tensor step = model->decode({tokens[n - 1]}, *past);
            HS_COMPARE_TENSORS(step, cache.logits()[0][static_cast<int64_t>(n - 1)], "decode step");
        }
    }
};

HOOKSCOPE_LEVEL_TEST_MAIN(TestArchitectures)

} // namespace tst_architectures
#include "tst_architectures.moc"
