#include "trainer/train_model.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/model/arch/gpt2.h"
#include "bridge/model/threads.h"
#include "bridge/model/weights.h"
#include "bridge/text/tokenizer.h"
#include "trainer/training.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace hookscope::train {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int64_t> encode_file(const Tokenizer& tokenizer, const std::filesystem::path& file) {
    return tokenizer.encode(read_text_file(file, std::uintmax_t{1} << 32));
}

// Mean loss over `windows` fixed, evenly spaced windows of the validation ids; with
// `windows` at least (n - 1) / context, over every whole window, back to back.
double validation_loss(const Model& model, const std::vector<int64_t>& ids, int64_t context, int64_t windows) {
    at::NoGradGuard no_grad;
    const auto n = static_cast<int64_t>(ids.size());
    if (n < context + 1) throw InputError("the validation text has fewer tokens than one context window");
    windows = std::min(windows, std::max<int64_t>(1, (n - 1) / context));
    double total = 0;
    const int64_t chunk = 8;
    for (int64_t w0 = 0; w0 < windows; w0 += chunk) {
        const int64_t count = std::min(chunk, windows - w0);
        at::Tensor batch = at::empty({count, context + 1}, at::kLong);
        for (int64_t k = 0; k < count; ++k) {
            const int64_t start = (w0 + k) * std::max(context, (n - context - 1) / windows);
            std::copy(ids.begin() + start, ids.begin() + start + context + 1, batch[k].data_ptr<int64_t>());
        }
        const at::Tensor logits = model.forward_batch(batch.slice(1, 0, context));
        total += next_token_loss(logits, batch.slice(1, 1)).item<double>() * static_cast<double>(count);
    }
    return total / static_cast<double>(windows);
}

std::string duration_text(double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, "%d:%02d:%02d", static_cast<int>(seconds / 3600),
                  static_cast<int>(std::fmod(seconds, 3600) / 60), static_cast<int>(std::fmod(seconds, 60)));
    return text;
}

} // namespace

int64_t window_position(const TrainOptions& o, int64_t step, at::Generator& generator) {
    const int64_t room = o.shape.context - o.short_context;
    int64_t last = 0;
    if (o.short_placement == TrainOptions::Placement::Anywhere) last = room;
    if (o.short_placement == TrainOptions::Placement::Spread)
        last = room * step / std::max<int64_t>(1, o.short_steps - 1);
    if (last == 0) return 0;
    return at::randint(last + 1, {1}, generator, at::kLong).item<int64_t>();
}

int train_model(const TrainOptions& o) {
    apply_thread_split(default_thread_split(o.threads));
    const Tokenizer tokenizer = Tokenizer::load(o.tokenizer);
    const std::vector<int64_t> train_ids = encode_file(tokenizer, o.train);
    const std::vector<int64_t> valid_ids = encode_file(tokenizer, o.valid);
    std::printf("corpus: %zu training tokens, %zu validation tokens\n", train_ids.size(), valid_ids.size());

    std::filesystem::create_directories(o.work);
    const std::filesystem::path checkpoint_file = o.work / "checkpoint.safetensors";
    Checkpoint state;
    if (std::filesystem::exists(checkpoint_file)) {
        state = load_checkpoint(checkpoint_file, o.shape);
        std::printf("resuming from %s at step %lld\n", checkpoint_file.c_str(), static_cast<long long>(state.step));
    } else {
        state.params = init_gpt2(o.shape, o.seed, o.sinusoidal_positions);
        state.moments.resize(state.params.size());
    }
    const ModelConfig config = parse_model_config(gpt2_config_json(o.shape), "hookscope-train");
    const auto model = make_gpt2(config, InMemoryWeights(state.params, "training"), "hookscope-train");
    std::printf("model: %lld parameters, %lld layers, %lld heads, d_model %lld, context %lld\n",
                static_cast<long long>(model->parameter_count()), static_cast<long long>(o.shape.layers),
                static_cast<long long>(o.shape.heads), static_cast<long long>(o.shape.d_model),
                static_cast<long long>(o.shape.context));

    const auto start = Clock::now();
    const int64_t first_step = state.step;
    double smoothed = 0;
    for (int64_t step = state.step; step < o.steps; ++step) {
        // Each step's batch depends on the seed and the step alone: a resumed run sees
        // the same data as an uninterrupted one.
        at::Generator generator = at::detail::createCPUGenerator(o.seed * 1000003 + static_cast<uint64_t>(step));
        const bool short_window = step < o.short_steps && o.short_context < o.shape.context;
        const int64_t context = short_window ? o.short_context : o.shape.context;
        const int64_t windows = short_window ? o.batch * o.shape.context / o.short_context : o.batch;
        const at::Tensor batch =
            sample_batch(train_ids, windows, context, repeat_share_at(step, o.repeat_share, o.repeat_ramp),
                         o.repeat_longest, o.shape.vocab, generator);
        const int64_t first_position = short_window ? window_position(o, step, generator) : 0;
        const at::Tensor logits = model->forward_batch(batch.slice(1, 0, context), first_position);
        const at::Tensor loss = next_token_loss(logits, batch.slice(1, 1));
        for (auto& [name, p] : state.params)
            p.mutable_grad() = at::Tensor();
        loss.backward();

        // Clip the gradient norm to 1, then step.
        double norm2 = 0;
        for (auto& [name, p] : state.params)
            norm2 += p.grad().pow(2).sum().item<double>();
        const double clip = std::min(1.0, 1.0 / (std::sqrt(norm2) + 1e-6));
        const double lr = learning_rate(step, o.steps, o.warmup, o.lr, o.lr * 0.1);
        for (std::size_t i = 0; i < state.params.size(); ++i) {
            at::Tensor grad = state.params[i].second.grad() * clip;
            adamw_step(state.params[i].second, grad, state.moments[i], step + 1, lr, o.adamw);
        }
        const double value = loss.item<double>();
        smoothed = step == first_step ? value : 0.95 * smoothed + 0.05 * value;
        state.step = step + 1;

        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const auto done = static_cast<double>(state.step - first_step);
        if (state.step % 10 == 0 || state.step == o.steps) {
            const double tokens_per_s = done * static_cast<double>(o.batch * o.shape.context) / elapsed;
            std::printf("step %6lld/%lld  loss %.4f  lr %.2e  %.0f tokens/s  elapsed %s  eta %s\n",
                        static_cast<long long>(state.step), static_cast<long long>(o.steps), smoothed, lr, tokens_per_s,
                        duration_text(elapsed).c_str(),
                        duration_text(elapsed / done * static_cast<double>(o.steps - state.step)).c_str());
            std::fflush(stdout);
        }
        if (state.step % o.eval_every == 0 || state.step == o.steps) {
            const double valid = validation_loss(*model, valid_ids, o.shape.context, o.eval_windows);
            std::printf("step %6lld  validation loss %.4f  perplexity %.2f\n", static_cast<long long>(state.step),
                        valid, std::exp(valid));
            std::fflush(stdout);
        }
        if (state.step % o.checkpoint_every == 0 || state.step == o.steps || state.step == o.stop_at) {
            save_checkpoint(checkpoint_file, state, o.shape);
        }
        if (state.step == o.stop_at) {
            std::printf("stopped at step %lld as asked; run again to resume\n", static_cast<long long>(state.step));
            return 0;
        }
    }
    export_gpt2(o.out, state.params, o.shape);
    for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt"}) {
        std::filesystem::copy_file(o.tokenizer / f, o.out / f, std::filesystem::copy_options::overwrite_existing);
    }
    // The tokenizer's longest input is the model's context.
    auto tokenizer_config =
        nlohmann::ordered_json::parse(read_text_file(o.tokenizer / "tokenizer_config.json", kMaxJsonBytes));
    tokenizer_config["model_max_length"] = o.shape.context;
    write_text_atomically(o.out / "tokenizer_config.json", tokenizer_config.dump(2) + "\n");
    const double valid = validation_loss(*model, valid_ids, o.shape.context, o.eval_windows);
    std::printf("done: validation loss %.4f, perplexity %.2f; model in %s\n", valid, std::exp(valid), o.out.c_str());
    return 0;
}

Evaluation evaluate_model(const EvaluateOptions& o) {
    apply_thread_split(default_thread_split(o.threads));
    const Tokenizer tokenizer = Tokenizer::load(o.model);
    const auto model = Model::load(o.model);
    Evaluation e;
    e.context = model->config().n_ctx;
    const std::vector<int64_t> train_ids = encode_file(tokenizer, o.train);
    const std::vector<int64_t> valid_ids = encode_file(tokenizer, o.valid);
    e.tokens = static_cast<int64_t>(valid_ids.size());
    e.windows = (e.tokens - 1) / e.context;
    e.loss = validation_loss(*model, valid_ids, e.context, e.windows);

    std::vector<double> counts(static_cast<std::size_t>(model->config().d_vocab), 1.0);
    for (const int64_t id : train_ids)
        counts.at(static_cast<std::size_t>(id)) += 1.0;
    const double total = static_cast<double>(train_ids.size() + counts.size());
    for (int64_t w = 0; w < e.windows; ++w) {
        for (int64_t i = 1; i <= e.context; ++i)
            e.unigram_loss -= std::log(counts.at(static_cast<std::size_t>(valid_ids[w * e.context + i])) / total);
    }
    e.unigram_loss /= static_cast<double>(e.windows * e.context);
    return e;
}

} // namespace hookscope::train
