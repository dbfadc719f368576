#pragma once
// `hookscope-train model`: trains the bundled GPT-2 on a tokenized corpus, resumable
// from the checkpoint in its work folder, and exports it in Hugging Face's format.

#include "trainer/training.h"

#include <filesystem>

namespace hookscope::train {

struct TrainOptions {
    std::filesystem::path train, valid, tokenizer, out, work;
    ModelShape shape;
    int64_t steps = 4000, batch = 16, warmup = 200;
    int64_t stop_at = 0; // > 0: save a checkpoint and stop after this step (train in parts)
    double lr = 3e-3, repeat_share = 0.1;
    int64_t repeat_ramp = 0;           // steps over which the repeat share falls from 1 (see repeat_share_at)
    int64_t repeat_longest = 32;       // the longest repeated segment (see sample_batch)
    bool sinusoidal_positions = false; // start wpe as sinusoidal_positions instead of noise
    // Sequence-length warm-up: the first `short_steps` steps train on windows of
    // `short_context` positions, with proportionally more of them (the same tokens per
    // step). Attention over fewer keys finds the copy to attend to sooner. Where the
    // windows stand in the context: at its start; anywhere (a random first position per
    // step); or spreading (a random first position up to a bound that grows linearly
    // from 0 to the context's end over the warm-up), so that later positions' embeddings
    // train too once the circuits have formed at the first ones.
    enum class Placement { Start, Anywhere, Spread };
    int64_t short_steps = 0, short_context = 64;
    Placement short_placement = Placement::Start;
    AdamWSettings adamw;
    uint64_t seed = 0;
    int64_t eval_every = 250, eval_windows = 64, checkpoint_every = 100;
    int threads = 0; // 0: every core
};

// Prints progress on stdout; returns the exit code. Throws on bad input.
int train_model(const TrainOptions& options);

// The first position of warm-up step `step`'s windows, as options.short_placement says
// (0 to context - short_context; `generator` draws it).
int64_t window_position(const TrainOptions& options, int64_t step, at::Generator& generator);

struct EvaluateOptions {
    std::filesystem::path model, train, valid;
    int threads = 0; // 0: every core
};

struct Evaluation {
    int64_t tokens = 0, windows = 0, context = 0; // of the validation text
    double loss = 0;                              // the model's mean next-token loss, nats
    double unigram_loss = 0;                      // the baseline's on the same predictions
};

// `hookscope-train evaluate`: the model's loss over every whole context window of the
// validation text, back to back, next to a unigram baseline (training-set token
// frequencies, add-one smoothed) on the same predictions.
Evaluation evaluate_model(const EvaluateOptions& options);

} // namespace hookscope::train
