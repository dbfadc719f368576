#pragma once
// The pieces of hookscope-train's model training: GPT-2 parameters in Hugging Face's
// names, AdamW, the learning-rate schedule, batches, resumable checkpoints and the
// export in Hugging Face's GPT-2 format. Each is a plain function, tested on its own.

#include "bridge/core/model_config.h"
#include "bridge/model/safetensors.h" // NamedTensors

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hookscope::train {

struct ModelShape {
    int64_t layers = 4, heads = 4, d_model = 192, context = 256, vocab = 4096;
    int64_t bos = 4095, eos = 4095; // <|endoftext|>
};

// config.json as Hugging Face's save_pretrained writes it for GPT2LMHeadModel.
std::string gpt2_config_json(const ModelShape& shape);

// GPT-2's parameters under their Hugging Face names ("transformer.h.0.attn.c_attn.weight",
// Conv1D [in, out] layouts; the head is tied to the embedding), initialised as GPT-2 is:
// weights N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 layers)), biases 0,
// LayerNorm gains 1. Each requires gradients.
NamedTensors init_gpt2(const ModelShape& shape, uint64_t seed, bool sinusoidal_positions = false);

// Sine/cosine position embeddings [positions, d] (the original Transformer's, base
// 10000) scaled so that every entry's root mean square is `rms`. The embedding of
// position p - 1 is then a fixed rotation of position p's, so a head can learn to
// attend to the previous token with one linear map instead of 256 separate ones.
at::Tensor sinusoidal_positions(int64_t positions, int64_t d, double rms);

// Linear warm-up to `peak` over `warmup` steps, then cosine decay to `floor` at `total`.
double learning_rate(int64_t step, int64_t total, int64_t warmup, double peak, double floor);

struct AdamWSettings {
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

// Moments of one parameter.
struct AdamWState {
    at::Tensor m, v;
};

// One decoupled-weight-decay Adam step (`step` counts from 1) on `param` with its
// gradient; weight decay only on matrices (rank >= 2), not on biases and gains.
void adamw_step(at::Tensor& param, const at::Tensor& grad, AdamWState& state, int64_t step, double lr,
                const AdamWSettings& s);

// `batch` windows of context + 1 ids from `ids` at offsets drawn with `generator`;
// a share `repeat_share` of them instead hold a random segment (8 to `longest` ids,
// at most context / 2, from the upper 90% of the vocabulary, its length drawn too)
// repeated to fill the window: in-context copying, which only an induction circuit
// predicts. Short segments repeat often, so attention finds a copy early in training.
// Returns [batch, context + 1] int64.
at::Tensor sample_batch(const std::vector<int64_t>& ids, int64_t batch, int64_t context, double repeat_share,
                        int64_t longest, int64_t vocab, at::Generator& generator);

// The share of repeated-segment windows at `step`: 1 at step 0, falling linearly to
// `share` at step `ramp` and staying there (just `share` when ramp is 0). Starting on
// repeats alone lets the induction circuit form before the text's statistics take
// over the gradient; the lasting share keeps it.
double repeat_share_at(int64_t step, double share, int64_t ramp);

// Mean next-token cross-entropy of the model's logits [B, P, V] on targets [B, P].
at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets);

struct Checkpoint {
    NamedTensors params;
    std::vector<AdamWState> moments; // in params' order
    int64_t step = 0;
};

// Writes params, moments and the step atomically; reads them back (CheckpointError
// when the file does not match `shape`'s parameters).
void save_checkpoint(const std::filesystem::path& file, const Checkpoint& c, const ModelShape& shape);
Checkpoint load_checkpoint(const std::filesystem::path& file, const ModelShape& shape);

// config.json and model.safetensors (metadata {"format": "pt"}) in Hugging Face's
// GPT-2 format into `folder`.
void export_gpt2(const std::filesystem::path& folder, const NamedTensors& params, const ModelShape& shape);

} // namespace hookscope::train
