#pragma once
// Reading the residual stream out, as the analysis views show it.
//
// Logit lens: each block's hook_resid_pre, and the last block's hook_resid_post,
// through the model's own final norm (weight and bias) and unembedding: what the
// model would predict if the remaining blocks were skipped.
//
// Direct logit attribution: one position's logit for a target token (or the
// difference to a contrast token) split into the parts of the residual stream that
// sum to it (embeddings, each attention head, each MLP, the output biases and the
// final norm's constant), through the final norm frozen at its cached scale. The
// weights are unprocessed (nothing folded), so the norm's gain stays in the
// direction: part c contributes (centre(c) for LayerNorm, c for RMSNorm) /
// ln_final.hook_scale · (w_ln ⊙ W_U[t]).

#include "bridge/core/model_config.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

class ActivationCache;
class Model;

// The hooks a logit lens reads, in order: blocks.0.hook_resid_pre …
// blocks.{L-1}.hook_resid_pre, blocks.{L-1}.hook_resid_post.
std::vector<std::string> lens_hooks(const ModelConfig& config);

// One layer of the lens, in plain arrays (free of LibTorch, for the views).
struct LensLayer {
    std::string hook;
    int64_t positions = 0, top_k = 0;
    std::vector<int64_t> top_ids; // [P, K] row-major, most likely first
    std::vector<float> top_probs; // [P, K]
    // With targets: the target's probability and rank (0 = most likely) at each
    // position; NaN and -1 where a position has no target. Empty without targets.
    std::vector<float> target_probs;   // [P]
    std::vector<int64_t> target_ranks; // [P]

    int64_t id(int64_t position, int64_t k) const { return top_ids[static_cast<std::size_t>(position * top_k + k)]; }
    float prob(int64_t position, int64_t k) const { return top_probs[static_cast<std::size_t>(position * top_k + k)]; }
};

// The logit lens over a cache holding lens_hooks() ([1, P, D] each). `targets`, when
// not empty, names one token per position (-1: none). Throws NotCapturedError for a
// missing hook, InputError for a bad top_k or targets.
std::vector<LensLayer> logit_lens(const Model& model, const ActivationCache& cache, int64_t top_k,
                                  const std::vector<int64_t>& targets = {});

// The token that came next at each position of `tokens`; -1 at the last.
std::vector<int64_t> next_tokens(const std::vector<int64_t>& tokens);

// The hooks an attribution reads: hook_embed, hook_pos_embed (learned positions
// only), every blocks.N.attn.hook_z and blocks.N.hook_mlp_out, ln_final.hook_scale.
std::vector<std::string> attribution_hooks(const ModelConfig& config);

struct Attribution {
    int64_t position = 0, target = 0;
    std::optional<int64_t> contrast;
    double logit = 0;                       // the model's: target's logit (minus contrast's)
    std::vector<std::vector<double>> heads; // [layer][head], through W_O without b_O
    std::vector<double> mlp;                // per layer, without the MLP's output bias
    double embed = 0;
    std::optional<double> pos_embed; // models with learned positions
    double biases = 0;               // every attention and MLP output bias
    double constant = 0;             // the final norm's bias and the unembedding bias
    double sum = 0;                  // of all the parts above: equals `logit` up to rounding
};

// Attribution of `position`'s logit for `target` (minus `contrast`'s) over a cache
// holding attribution_hooks(). The logit itself comes from the cache's logits.
// Throws NotCapturedError for a missing hook, InputError for a position or token out
// of range.
Attribution attribute(const Model& model, const ActivationCache& cache, int64_t position, int64_t target,
                      std::optional<int64_t> contrast = std::nullopt);

// A names filter selecting exactly `hooks`.
std::string exact_names_filter(const std::vector<std::string>& hooks);

} // namespace hookscope
