// generate(): golden greedy tokens, KV cache against the plain forward, return_cache
// against run_with_cache, sampling rules on hand-made logits, stops, cancel, guards.

#include "bridge/core/errors.h"
#include "bridge/model/generate.h"
#include "bridge/model/kv_cache.h"
#include "bridge/model/safetensors.h"
#include "support/error_text.h"
#include "support/kernel_level.h"
#include "support/tensor_compare.h"
#include "support/token_ids.h"

#include <ATen/CPUGeneratorImpl.h>
#include <QtTest>

#include <filesystem>
#include <limits>

namespace tst_generate {

using namespace hookscope;
using hookscope::test::error_of;
using hookscope::test::ids_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";
constexpr float kInf = std::numeric_limits<float>::infinity();

GenerateOptions greedy(int64_t new_tokens) {
    GenerateOptions o;
    o.max_new_tokens = new_tokens;
    o.sampling.do_sample = false;
    return o;
}

std::vector<float> values_of(const at::Tensor& t) {
    const at::Tensor c = t.to(at::kFloat).contiguous();
    return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

} // namespace

class TestGenerate : public QObject {
    Q_OBJECT

    static const Tokenizer& gpt2_tokenizer() {
        static const Tokenizer tokenizer = Tokenizer::load(fs::path(HOOKSCOPE_FIXTURES) / "tokenizers" / "gpt2");
        return tokenizer;
    }

    std::unique_ptr<Model> model_;
    std::shared_ptr<const SafetensorsFile> golden_;
    std::vector<int64_t> prompt_;

private slots:
    void initTestCase() {
        model_ = Model::load(kGpt2);
        golden_ = SafetensorsFile::open(kGpt2 / "golden.safetensors");
        prompt_ = ids_of(golden_->tensor("input_ids"));
    }

    void greedyReproducesHuggingFace() {
        for (const bool cached : {true, false}) {
            GenerateOptions o = greedy(10);
            o.use_kv_cache = cached;
            const GenerateResult r = generate(*model_, prompt_, o);
            QCOMPARE(r.tokens, ids_of(golden_->tensor("greedy_tokens")));
            QCOMPARE(r.prompt_length, 12);
            QCOMPARE(r.stop_reason, StopReason::MaxNewTokens);
            QVERIFY(!r.seed.has_value());
        }
    }

    // Each cached step's logits equal the plain forward's last position.
    void kvCacheMatchesTheUncachedForward() {
        const std::vector<int64_t> prompt{0, 17, 42};
        GenerateOptions o = greedy(60);
        const GenerateResult cached = generate(*model_, prompt, o);
        o.use_kv_cache = false;
        const GenerateResult uncached = generate(*model_, prompt, o);
        QCOMPARE(cached.tokens, uncached.tokens);
        QCOMPARE(cached.tokens.size(), std::size_t(63));

        const auto past = model_->new_kv_cache(cached.tokens.size());
        double worst = 0;
        for (std::size_t n = prompt.size(); n <= cached.tokens.size(); ++n) {
            const std::vector<int64_t> fed = n == prompt.size() ? prompt : std::vector<int64_t>{cached.tokens[n - 1]};
            const at::Tensor step = model_->decode(fed, *past);
            const at::Tensor full = model_->forward({cached.tokens.begin(), cached.tokens.begin() + n})[0][-1];
            worst = std::max(worst, (step - full).abs().max().item<double>());
        }
        QVERIFY2(worst <= 1e-4, qPrintable(QString("max |diff| %1").arg(worst)));
        QCOMPARE(past->length(), static_cast<int64_t>(cached.tokens.size()));
        qInfo("cached vs uncached logits over 61 steps: max |diff| = %.3g", worst);
    }

    void returnCacheEqualsRunWithCache_data() {
        QTest::addColumn<QString>("filter");
        QTest::newRow("everything") << QString();
        QTest::newRow("narrow") << QString("blocks.1.attn.hook_pattern, /resid_post$/");
    }

    void returnCacheEqualsRunWithCache() {
        QFETCH(QString, filter);
        GenerateOptions o;
        o.max_new_tokens = 7;
        o.seed = 3;
        o.return_cache = true;
        o.names_filter = NamesFilter(filter.toStdString());
        const GenerateResult r = generate(*model_, prompt_, o);
        QVERIFY(r.cache.has_value());
        const ActivationCache expected = model_->run_with_cache(r.tokens, o.names_filter);
        QCOMPARE(r.cache->names(), expected.names());
        QCOMPARE(r.cache->tokens(), r.tokens);
        const auto positions = static_cast<int64_t>(r.tokens.size());
        for (const HookInfo& info : model_->hook_points()) {
            const at::Tensor* got = r.cache->find(info.name);
            if (!got) continue;
            QVERIFY2(at::equal(*got, expected[info.name]), info.name.c_str()); // bitwise
            for (std::size_t d = 0; d < info.shape.size(); ++d) {
                if (info.shape[d].kind == Dim::Kind::Positions) QCOMPARE(got->size(static_cast<int64_t>(d)), positions);
            }
        }
        QVERIFY(at::equal(r.cache->logits(), expected.logits()));
        QVERIFY(r.recompute_s > 0);
    }

    void seededSamplingIsReproducible() {
        GenerateOptions o;
        o.max_new_tokens = 20;
        o.seed = 1234;
        const GenerateResult a = generate(*model_, prompt_, o);
        const GenerateResult b = generate(*model_, prompt_, o);
        QCOMPARE(a.tokens, b.tokens);
        QCOMPARE(a.seed, std::optional<uint64_t>(1234));
        // Without a seed one is drawn, reported, and reproduces the run.
        o.seed.reset();
        const GenerateResult drawn = generate(*model_, prompt_, o);
        QVERIFY(drawn.seed.has_value());
        o.seed = drawn.seed;
        QCOMPARE(generate(*model_, prompt_, o).tokens, drawn.tokens);
    }

    void topKOfOneIsGreedy() {
        GenerateOptions o;
        o.max_new_tokens = 15;
        o.seed = 99;
        o.sampling.top_k = 1;
        const GenerateResult sampled = generate(*model_, prompt_, o);
        QCOMPARE(sampled.tokens, generate(*model_, prompt_, greedy(15)).tokens);
        for (const NewToken& t : sampled.generated) {
            QCOMPARE(t.logprob, 0.0); // all the probability is on the one token kept
            QCOMPARE(t.top.size(), std::size_t(1));
        }
    }

    // TransformerLens' order on a hand-made vector: repetition penalty, temperature,
    // frequency penalty, then top-k or top-p.
    void penaltiesAndFiltersAsSpecified() {
        const at::Tensor logits = at::tensor({2.0f, -2.0f, 1.0f, 0.25f});
        const std::vector<int64_t> context{0, 0, 1};
        SamplingSettings s;
        s.repetition_penalty = 2.0;
        s.do_sample = false; // greedy: only the repetition penalty
        QCOMPARE(values_of(processed_logits(logits, context, s)), (std::vector<float>{1.0f, -4.0f, 1.0f, 0.25f}));
        s.do_sample = true;
        s.temperature = 2.0;
        s.freq_penalty = 0.5; // counts [2, 1, 0, 0]
        QCOMPARE(values_of(processed_logits(logits, context, s)),
                 (std::vector<float>{0.5f - 1.0f, -2.0f - 0.5f, 0.5f, 0.125f}));
        s.top_k = 2; // keeps 0.5 and 0.125
        QCOMPARE(values_of(processed_logits(logits, context, s)), (std::vector<float>{-kInf, -kInf, 0.5f, 0.125f}));
        s.top_k = 1;
        s.top_p = 0.99; // top-k wins when both are set
        QCOMPARE(values_of(processed_logits(logits, context, s)), (std::vector<float>{-kInf, -kInf, 0.5f, -kInf}));
    }

    void topPKeepsTheMostLikelyToken() {
        SamplingSettings s;
        s.top_p = 0.1; // the first token alone has probability 0.84 > p: it stays, alone
        const at::Tensor logits = at::tensor({3.0f, 1.0f, 0.0f, -1.0f});
        QCOMPARE(values_of(processed_logits(logits, {}, s)), (std::vector<float>{3.0f, -kInf, -kInf, -kInf}));
        // p = 0.9: 0.844 < 0.9, so the second (cumulative 0.958) is kept too, then the rest go.
        s.top_p = 0.9;
        QCOMPARE(values_of(processed_logits(logits, {}, s)), (std::vector<float>{3.0f, 1.0f, -kInf, -kInf}));
        at::Generator generator = at::detail::createCPUGenerator(7);
        s.top_p = 0.1;
        for (int k = 0; k < 20; ++k)
            QCOMPARE(choose_token(logits, {}, s, generator).id, 0);
    }

    void logprobsComeFromTheSampledDistribution() {
        GenerateOptions o;
        o.max_new_tokens = 5;
        o.seed = 11;
        o.sampling.temperature = 0.7;
        const GenerateResult r = generate(*model_, prompt_, o);
        for (const NewToken& t : r.generated) {
            QCOMPARE(t.top.size(), std::size_t(5));
            QVERIFY(t.top[0].second >= t.top[4].second);
            QVERIFY(t.logprob <= 0);
            double total = 0;
            for (const auto& [id, logprob] : t.top)
                total += std::exp(logprob);
            QVERIFY(total <= 1.0 + 1e-6);
        }
    }

    void cancelKeepsWhatWasGenerated() {
        for (const int n : {0, 1, 4}) {
            GenerateOptions o = greedy(50);
            o.return_cache = true;
            int seen = 0;
            GenerateCallbacks callbacks;
            callbacks.on_token = [&](const TokenEvent& e) {
                QCOMPARE(e.step, seen);
                ++seen;
            };
            callbacks.cancelled = [&] { return seen >= n; };
            const GenerateResult r = generate(*model_, prompt_, o, callbacks);
            QCOMPARE(r.stop_reason, StopReason::Cancelled);
            QCOMPARE(r.generated.size(), std::size_t(n));
            QCOMPARE(r.tokens.size(), prompt_.size() + n);
            QCOMPARE(r.cache->logits().size(1), static_cast<int64_t>(prompt_.size() + n));
        }
    }

    void eosStopsAndIsKept() {
        GenerateOptions o = greedy(10);
        o.eos_ids = {379}; // the third greedy token
        const GenerateResult r = generate(*model_, prompt_, o);
        QCOMPARE(r.stop_reason, StopReason::Eos);
        QCOMPARE(r.generated.size(), std::size_t(3));
        QCOMPARE(r.tokens.back(), 379);
        o.stop_at_eos = false;
        QCOMPARE(generate(*model_, prompt_, o).generated.size(), std::size_t(10));
    }

    void contextFullStops() {
        const int64_t n_ctx = model_->config().n_ctx; // 128
        std::vector<int64_t> prompt(static_cast<std::size_t>(n_ctx - 5), 7);
        GenerateOptions o = greedy(20);
        o.return_cache = true;
        const GenerateResult r = generate(*model_, prompt, o);
        QCOMPARE(r.stop_reason, StopReason::ContextFull);
        QCOMPARE(r.generated.size(), std::size_t(5));
        QCOMPARE(static_cast<int64_t>(r.tokens.size()), n_ctx);
        QCOMPARE(r.cache->logits().size(1), n_ctx);
        // A full prompt generates nothing, and the cache still covers it.
        prompt.assign(static_cast<std::size_t>(n_ctx), 7);
        QCOMPARE(generate(*model_, prompt, o).stop_reason, StopReason::ContextFull);
        // The key/value cache never holds more than the context.
        QCOMPARE(model_->new_kv_cache(1 << 20)->capacity(), n_ctx);
    }

    void streamedPiecesSpellTheText() {
        const Tokenizer& tokenizer = gpt2_tokenizer();
        GenerateOptions o = greedy(12);
        std::string streamed;
        GenerateCallbacks callbacks;
        callbacks.on_token = [&](const TokenEvent& e) { streamed += e.piece; };
        const GenerateResult r = generate(*model_, prompt_, o, callbacks, &tokenizer);
        const std::vector<int64_t> new_ids(r.tokens.begin() + r.prompt_length, r.tokens.end());
        QCOMPARE(r.text, tokenizer.decode(new_ids));
        QCOMPARE(streamed, r.text);
        // A stop string ends generation as soon as the new text contains it.
        const std::string stop = tokenizer.decode(std::vector<int64_t>(new_ids.begin(), new_ids.begin() + 3));
        o.stop_strings = {stop.substr(stop.size() / 2)};
        const GenerateResult stopped = generate(*model_, prompt_, o, {}, &tokenizer);
        QCOMPARE(stopped.stop_reason, StopReason::StopString);
        QVERIFY(stopped.generated.size() <= 3);
        QVERIFY(stopped.text.find(o.stop_strings[0]) != std::string::npos);
    }

    void guards() {
        const GenerateOptions o = greedy(3);
        const QString batch = error_of([&] { generate(*model_, at::zeros({2, 4}, at::kLong), o); });
        QVERIFY2(batch.contains("not a batch") && batch.contains("each sequence"), qPrintable(batch));
        const QString embeddings = error_of([&] { generate(*model_, at::zeros({1, 4, 64}), o); });
        QVERIFY2(embeddings.contains("embeddings") && embeddings.contains("run_with_cache"), qPrintable(embeddings));
        QCOMPARE(generate(*model_, at::tensor({0, 17, 42}, at::kLong).unsqueeze(0), o).generated.size(),
                 std::size_t(3));
        QVERIFY(error_of([&] { generate(*model_, std::vector<int64_t>{}, o); }).contains("empty"));
        QVERIFY(error_of([&] { generate(*model_, std::vector<int64_t>(129, 1), o); }).contains("context"));
        QVERIFY(error_of([&] { generate(*model_, std::vector<int64_t>{600}, o); }).contains("outside the vocabulary"));
        GenerateOptions bad = o;
        bad.stop_strings = {"x"};
        QVERIFY(error_of([&] { generate(*model_, prompt_, bad); }).contains("tokenizer"));
        bad.stop_strings = {""};
        QVERIFY(error_of([&] { generate(*model_, prompt_, bad, {}, &gpt2_tokenizer()); }).contains("empty"));
        bad = o;
        bad.seed = uint64_t{1} << 32;
        bad.sampling.do_sample = true;
        QVERIFY(error_of([&] { generate(*model_, prompt_, bad); }).contains("seed"));
        bad = o;
        bad.max_new_tokens = 0;
        QVERIFY(error_of([&] { generate(*model_, std::vector<int64_t>{1, 512}, bad); }).contains("position 1"));
        // A huge max_new_tokens runs until the context is full.
        bad = o;
        bad.max_new_tokens = std::numeric_limits<int64_t>::max();
        QCOMPARE(generate(*model_, std::vector<int64_t>(120, 3), bad).stop_reason, StopReason::ContextFull);
        bad = o;
        bad.sampling.do_sample = true;
        bad.sampling.top_p = 1.5;
        QVERIFY(error_of([&] { generate(*model_, prompt_, bad); }).contains("top-p"));
    }
};

HOOKSCOPE_LEVEL_TEST_MAIN(TestGenerate)

} // namespace tst_generate
#include "tst_generate.moc"
