// hookscope-train's pieces: schedule, AdamW, initialisation, batches, checkpoints,
// export, and a short end-to-end run on a toy corpus (seconds, not the real training).

#include "bridge/core/errors.h"
#include "bridge/model/arch/gpt2.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/weights.h"
#include "bridge/text/tokenizer.h"
#include "support/test_main.h"
#include "trainer/bpe_trainer.h"
#include "trainer/train_model.h"
#include "trainer/training.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>
#include <numeric>
#include <set>

namespace tst_training {

using namespace hookscope;
using namespace hookscope::train;
namespace fs = std::filesystem;

namespace {

bool near(double a, double b, double tolerance = 1e-9) {
    return std::abs(a - b) < tolerance;
}

ModelShape toy_shape() {
    ModelShape s;
    s.layers = 1;
    s.heads = 2;
    s.d_model = 32;
    s.context = 32;
    s.vocab = 300;
    s.bos = s.eos = 299;
    return s;
}

} // namespace

class TestTraining : public QObject {
    Q_OBJECT

private slots:
    void scheduleWarmsUpThenDecays() {
        QVERIFY(near(learning_rate(0, 1000, 100, 1e-3, 1e-4), 1e-5)); // 1/100 of the peak
        QVERIFY(near(learning_rate(99, 1000, 100, 1e-3, 1e-4), 1e-3));
        QVERIFY(near(learning_rate(100, 1000, 100, 1e-3, 1e-4), 1e-3));
        QVERIFY(near(learning_rate(550, 1000, 100, 1e-3, 1e-4), 5.5e-4)); // half-way: the mean
        QVERIFY(near(learning_rate(1000, 1000, 100, 1e-3, 1e-4), 1e-4));
    }

    // By hand: step 1, gradient 0.5: m = 0.05, v = 0.0125; bias-corrected 0.5 and 0.25,
    // so the update is lr x 0.5 / 0.5 = lr. Matrices also decay by lr x weight decay.
    void repeatShareRampsDownFromOne() {
        QCOMPARE(repeat_share_at(0, 0.25, 1000), 1.0);
        QCOMPARE(repeat_share_at(500, 0.25, 1000), 0.625);
        QCOMPARE(repeat_share_at(1000, 0.25, 1000), 0.25);
        QCOMPARE(repeat_share_at(3000, 0.25, 1000), 0.25);
        QCOMPARE(repeat_share_at(0, 0.25, 0), 0.25); // no ramp
    }

    // Sinusoidal positions: every entry has the asked-for RMS, and the dot product of
    // neighbours is the same everywhere, 2 rms^2 * sum_k cos(w_k): the map from one
    // position to the previous is one rotation.
    void sinusoidalPositionsRotateByOneStep() {
        const at::Tensor pe = sinusoidal_positions(256, 192, 0.02);
        QCOMPARE(pe.sizes().vec(), (std::vector<int64_t>{256, 192}));
        QVERIFY(std::abs(pe.pow(2).mean().sqrt().item<double>() - 0.02) < 1e-4);
        double expected = 0;
        for (int k = 0; k < 96; ++k)
            expected += 2 * 0.02 * 0.02 * std::cos(1.0 / std::pow(10000.0, 2.0 * k / 192));
        for (int64_t p : {1, 7, 100, 255})
            QVERIFY(std::abs(at::dot(pe[p], pe[p - 1]).item<double>() - expected) < 1e-7);
        QCOMPARE(pe[0][0].item<float>(), 0.0f);                                    // sin 0
        QVERIFY(std::abs(pe[0][1].item<double>() - 0.02 * std::sqrt(2.0)) < 1e-7); // cos 0

        const ModelShape s = toy_shape();
        const NamedTensors noise = init_gpt2(s, 5), waves = init_gpt2(s, 5, true);
        for (std::size_t i = 0; i < noise.size(); ++i) { // only the positions differ
            const bool wpe = noise[i].first == "transformer.wpe.weight";
            QCOMPARE(at::equal(noise[i].second, waves[i].second), !wpe);
            if (wpe) QVERIFY(at::equal(waves[i].second, sinusoidal_positions(s.context, s.d_model, 0.02)));
        }
    }

    void adamwStepsAsWritten() {
        AdamWSettings s;
        s.eps = 0;
        at::Tensor bias = at::tensor({1.0, -2.0}, at::kDouble);
        AdamWState state;
        adamw_step(bias, at::tensor({0.5, 0.5}, at::kDouble), state, 1, 0.1, s);
        QVERIFY(near(bias[0].item<double>(), 0.9) && near(bias[1].item<double>(), -2.1));
        QVERIFY(near(state.m[0].item<double>(), 0.05) && near(state.v[0].item<double>(), 0.0125));
        at::Tensor matrix = at::ones({2, 1}, at::kDouble);
        AdamWState fresh;
        s.eps = 1e-8;
        adamw_step(matrix, at::zeros({2, 1}, at::kDouble), fresh, 1, 0.1, s);
        QVERIFY(near(matrix[0][0].item<double>(), 1 - 0.1 * 0.1));
    }

    void initialisationBuildsTheGpt2AndSharesItsTensors() {
        const ModelShape s = toy_shape();
        const NamedTensors params = init_gpt2(s, 7);
        const auto model = make_gpt2(parse_model_config(gpt2_config_json(s), "t"), InMemoryWeights(params, "t"), "t");
        QCOMPARE(model->parameter_count(), int64_t(300 * 32 + 32 * 32 + 12 * 32 * 32 + 13 * 32 + 2 * 32));
        const at::Tensor tokens = at::arange(10, at::kLong).unsqueeze(0);
        const at::Tensor before = model->forward_batch(tokens).detach().clone();
        {
            at::NoGradGuard no_grad;
            params[0].second.mul_(2); // the embedding: the model reads the same tensor
        }
        QVERIFY(!at::allclose(model->forward_batch(tokens), before));
        QVERIFY(params[2].second.requires_grad());
        const double std =
            at::cat({params[4].second.flatten(), init_gpt2(ModelShape{}, 1)[4].second.flatten()}).std().item<double>();
        QVERIFY2(std > 0.015 && std < 0.025, qPrintable(QString::number(std))); // N(0, 0.02)
    }

    // Every parameter learns: the gradient reaches the query and key columns of c_attn
    // (attention that could not learn would stay uniform), and the position table.
    void gradientsReachEveryParameter() {
        const ModelShape s = toy_shape();
        NamedTensors params = init_gpt2(s, 3);
        const auto model = make_gpt2(parse_model_config(gpt2_config_json(s), "t"), InMemoryWeights(params, "t"), "t");
        const at::Tensor batch = at::randint(0, 300, {2, 17}, at::kLong);
        next_token_loss(model->forward_batch(batch.slice(1, 0, 16)), batch.slice(1, 1)).backward();
        for (const auto& [name, p] : params) {
            QVERIFY2(p.grad().defined() && p.grad().abs().sum().item<double>() > 0, name.c_str());
        }
        const at::Tensor c_attn = params[4].second.grad(); // transformer.h.0.attn.c_attn.weight [d, 3d]
        QCOMPARE(params[4].first, std::string("transformer.h.0.attn.c_attn.weight"));
        QVERIFY(c_attn.slice(1, 0, 32).abs().sum().item<double>() > 0);  // queries
        QVERIFY(c_attn.slice(1, 32, 64).abs().sum().item<double>() > 0); // keys
    }

    // Windows placed later in the context read later rows of the position table: the
    // same as placing them first in a model whose table is shifted up by that many rows.
    void batchForwardStartsAtAGivenPosition() {
        const ModelShape s = toy_shape();
        const NamedTensors params = init_gpt2(s, 4);
        NamedTensors shifted;
        for (const auto& [name, p] : params)
            shifted.emplace_back(name, name == "transformer.wpe.weight" ? p.roll(-11, 0).detach() : p.detach());
        const ModelConfig config = parse_model_config(gpt2_config_json(s), "t");
        const auto model = make_gpt2(config, InMemoryWeights(params, "t"), "t");
        const auto reference = make_gpt2(config, InMemoryWeights(shifted, "t"), "t");
        const at::Tensor tokens = at::randint(0, 300, {3, 21}, at::kLong);
        const at::Tensor later = model->forward_batch(tokens, 11);
        QVERIFY(at::allclose(later, reference->forward_batch(tokens), 1e-5, 1e-5));
        QVERIFY(!at::allclose(later, model->forward_batch(tokens), 1e-3, 1e-3));
        QVERIFY_THROWS_EXCEPTION(InputError, model->forward_batch(tokens, 12)); // 12 + 21 > 32
        QVERIFY_THROWS_EXCEPTION(InputError, model->forward_batch(tokens, -1));
    }

    // Warm-up windows of 16 in a context of 32 may start at 0 to 16: always at 0, or
    // anywhere there, or up to a bound that grows from 0 (first step) to 16 (last).
    void warmUpWindowsStandWherePlaced() {
        TrainOptions o;
        o.shape = toy_shape();
        o.short_context = 16;
        o.short_steps = 11;
        at::Generator generator = at::detail::createCPUGenerator(3);
        const auto range = [&](TrainOptions::Placement placement, int64_t step) {
            o.short_placement = placement;
            std::set<int64_t> seen;
            for (int i = 0; i < 400; ++i)
                seen.insert(window_position(o, step, generator));
            return std::vector<int64_t>{*seen.begin(), *seen.rbegin()}; // the least and the most
        };
        using P = TrainOptions::Placement;
        QCOMPARE(range(P::Start, 5), (std::vector<int64_t>{0, 0}));
        QCOMPARE(range(P::Anywhere, 0), (std::vector<int64_t>{0, 16}));
        QCOMPARE(range(P::Spread, 0), (std::vector<int64_t>{0, 0}));
        QCOMPARE(range(P::Spread, 5), (std::vector<int64_t>{0, 8})); // 16 * 5 / 10
        QCOMPARE(range(P::Spread, 10), (std::vector<int64_t>{0, 16}));
    }

    void batchesAreCorpusWindowsOrRepeats() {
        std::vector<int64_t> ids(500);
        std::iota(ids.begin(), ids.end(), 0);
        at::Generator g = at::detail::createCPUGenerator(3);
        const at::Tensor windows = sample_batch(ids, 4, 16, 0.0, 32, 300, g);
        QCOMPARE(windows.sizes().vec(), (std::vector<int64_t>{4, 17}));
        for (int64_t b = 0; b < 4; ++b) { // consecutive ids: a slice of the corpus
            for (int64_t i = 1; i < 17; ++i)
                QCOMPARE(windows[b][i].item<int64_t>(), windows[b][0].item<int64_t>() + i);
        }
        // Repeats: some period between 8 and 12 tokens (the longest asked for) holds over
        // the whole window, and the periods vary between windows.
        const at::Tensor repeats = sample_batch(ids, 16, 32, 1.0, 12, 300, g);
        std::set<int64_t> periods;
        for (int64_t b = 0; b < 16; ++b) {
            int64_t period = 8;
            while (period <= 12 && !at::equal(repeats[b].slice(0, period), repeats[b].slice(0, 0, 33 - period)))
                ++period;
            QVERIFY2(period <= 12, qPrintable(QString("window %1 repeats no segment").arg(b)));
            periods.insert(period);
            QVERIFY(repeats[b].min().item<int64_t>() >= 30);
        }
        QVERIFY(periods.size() > 2);
    }

    // A few hundred steps on a toy corpus: the loss falls far below chance, the
    // checkpoint resumes, and the export loads as a Hugging Face GPT-2.
    void trainsResumesAndExports() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        std::string text;
        for (int i = 0; i < 300; ++i)
            text += "the lamb and the lion lie down together. ";
        std::ofstream(root / "train.txt") << text;
        std::ofstream(root / "valid.txt") << text.substr(0, 2000);
        write_bpe_tokenizer(root / "tok", train_byte_level_bpe(text, 300, {"<|endoftext|>"}), 1024);

        TrainOptions o;
        o.train = root / "train.txt";
        o.valid = root / "valid.txt";
        o.tokenizer = root / "tok";
        o.out = root / "model";
        o.work = root / "work";
        o.shape = toy_shape();
        o.steps = 60;
        o.batch = 8;
        o.warmup = 10;
        o.eval_every = 1000;
        o.checkpoint_every = 20;
        o.threads = 1;
        o.short_steps = 15; // 16 windows of 16 positions spreading over the context, then 8 of 32
        o.short_context = 16;
        o.short_placement = TrainOptions::Placement::Spread;
        QCOMPARE(train_model(o), 0);
        QCOMPARE(SafetensorsFile::open(o.work / "checkpoint.safetensors")->metadata().at("step"), "60");
        o.steps = 80; // resumes at 60
        QCOMPARE(train_model(o), 0);
        QCOMPARE(SafetensorsFile::open(o.work / "checkpoint.safetensors")->metadata().at("step"), "80");

        const auto exported = SafetensorsFile::open(o.out / "model.safetensors");
        QCOMPARE(exported->metadata().at("format"), "pt");
        QVERIFY(exported->find("transformer.h.0.attn.c_attn.weight"));
        QCOMPARE(exported->tensor("transformer.h.0.mlp.c_fc.weight").sizes().vec(), (std::vector<int64_t>{32, 128}));
        const auto config = nlohmann::json::parse(std::ifstream(o.out / "config.json"));
        QCOMPARE(config["architectures"][0].get<std::string>(), "GPT2LMHeadModel");
        QCOMPARE(config["eos_token_id"].get<int>(), 299);

        const auto model = Model::load(o.out);
        const std::vector<int64_t> ids = Tokenizer::load(o.out).encode(text.substr(0, 120));
        const at::Tensor batch = at::tensor(at::ArrayRef<int64_t>(ids), at::kLong).unsqueeze(0);
        const double loss = next_token_loss(model->forward(ids).slice(1, 0, -1), batch.slice(1, 1)).item<double>();
        qInfo("toy corpus loss after 80 steps: %.3f (chance: %.3f)", loss, std::log(300.0));
        QVERIFY2(loss < 3.0, qPrintable(QString::number(loss))); // chance is 5.7; measured 2.25
        QVERIFY_THROWS_EXCEPTION(CheckpointError, load_checkpoint(o.work / "checkpoint.safetensors", ModelShape{}));
        const auto tokenizer_config = nlohmann::json::parse(std::ifstream(o.out / "tokenizer_config.json"));
        QCOMPARE(tokenizer_config["model_max_length"].get<int>(), 32); // the model's context, not 1024
        QCOMPARE(tokenizer_config["eos_token"].get<std::string>(), "<|endoftext|>");

        // evaluate: every whole window of the validation text, and a unigram baseline
        // on the same predictions, both computed here by hand.
        const Evaluation e = evaluate_model({o.out, o.train, o.valid, 1});
        const std::vector<int64_t> valid = Tokenizer::load(o.out).encode(text.substr(0, 2000));
        const std::vector<int64_t> train = Tokenizer::load(o.out).encode(text);
        QCOMPARE(e.tokens, static_cast<int64_t>(valid.size()));
        QCOMPARE(e.windows, (e.tokens - 1) / 32);
        std::vector<double> counts(300, 1.0);
        for (const int64_t id : train)
            counts[static_cast<std::size_t>(id)] += 1;
        double by_hand = 0, unigram = 0;
        for (int64_t w = 0; w < e.windows; ++w) {
            const std::vector<int64_t> window(valid.begin() + w * 32, valid.begin() + w * 32 + 33);
            const at::Tensor targets = at::tensor(at::ArrayRef<int64_t>(window), at::kLong).slice(0, 1).unsqueeze(0);
            by_hand += next_token_loss(model->forward({window.begin(), window.end() - 1}), targets).item<double>();
            for (std::size_t i = 1; i < window.size(); ++i)
                unigram -= std::log(counts[static_cast<std::size_t>(window[i])] / (train.size() + 300.0));
        }
        QVERIFY(std::abs(e.loss - by_hand / static_cast<double>(e.windows)) < 1e-4);
        QVERIFY(std::abs(e.unigram_loss - unigram / static_cast<double>(e.windows * 32)) < 1e-9);
        QVERIFY(e.loss < e.unigram_loss); // the sentence is learned, not just its words' frequencies

        // An interrupted run that resumes ends with exactly the weights of one that was not.
        TrainOptions whole = o, part = o;
        whole.work = root / "whole", whole.out = root / "whole-model", whole.steps = 40;
        part.work = root / "part", part.out = root / "part-model", part.steps = 40, part.stop_at = 20;
        QCOMPARE(train_model(whole), 0);
        QCOMPARE(train_model(part), 0); // "interrupted" at step 20
        QVERIFY(!fs::exists(part.out / "model.safetensors"));
        part.stop_at = 0;
        QCOMPARE(train_model(part), 0);
        const auto a = SafetensorsFile::open(whole.out / "model.safetensors");
        const auto b = SafetensorsFile::open(part.out / "model.safetensors");
        for (const TensorInfo& t : a->tensors())
            QVERIFY2(at::equal(a->tensor(t.name), b->tensor(t.name)), t.name.c_str());
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestTraining)

} // namespace tst_training
#include "tst_training.moc"
