#include "bridge/analysis/analysis.h"

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/spin_pool.h"
#include "bridge/model/layers.h"
#include "bridge/model/model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace hookscope {
namespace {

std::string block_hook(int64_t layer, Site site) {
    return HookPoint::block(site, static_cast<int>(layer)).to_string();
}

std::string global_hook(Site site) {
    return HookPoint::global(site).to_string();
}

// The final norm applied to x [.., D], as the model applies it.
at::Tensor final_norm(const ReadoutWeights& r, const at::Tensor& x, double eps) {
    const at::Tensor w = r.norm_weight.to(at::kFloat);
    if (r.rms_norm) return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * w;
    return at::layer_norm(x, {x.size(-1)}, w, r.norm_bias.to(at::kFloat), eps);
}

// Row `position` of a [1, P, ...] cache tensor, in float64.
at::Tensor at_position(const ActivationCache& cache, const std::string& hook, int64_t position) {
    const at::Tensor& t = cache[hook];
    if (t.dim() < 2 || t.size(0) != 1 || position >= t.size(1)) {
        throw InputError("`" + hook + "` has no position " + std::to_string(position));
    }
    return t[0][position].to(at::kDouble);
}

// What the lens reads from one row of logits [vocab] whose log-sum-exp is `lse`: the
// top_k tokens and their probabilities, most likely first (of equal logits, the lower
// id first), and the target's probability and rank (tokens with a larger logit).
// Small k takes kernels::top_k's one pass; larger k sorts indices.
void read_lens_row(const float* row, int64_t vocab, int64_t top_k, float lse, int64_t target, int64_t* ids,
                   float* probs, float* target_prob, int64_t* target_rank) {
    if (top_k <= kernels::kTopKListed) {
        float values[kernels::kTopKListed];
        const int64_t found = kernels::top_k(row, vocab, top_k, ids, values);
        for (int64_t j = found; j < top_k; ++j) // fewer numbers than k in the row
            values[j] = -std::numeric_limits<float>::infinity(), ids[j] = j;
        for (int64_t j = 0; j < top_k; ++j)
            probs[j] = std::exp(values[j] - lse);
    } else {
        std::vector<int64_t> order(static_cast<std::size_t>(vocab));
        std::iota(order.begin(), order.end(), int64_t{0});
        const auto larger = [row](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
        std::partial_sort(order.begin(), order.begin() + top_k, order.end(), larger);
        for (int64_t j = 0; j < top_k; ++j) {
            ids[j] = order[static_cast<std::size_t>(j)];
            probs[j] = std::exp(row[ids[j]] - lse);
        }
    }
    if (target < 0) return;
    const float t = row[target];
    int64_t above = 0;
    for (int64_t i = 0; i < vocab; ++i)
        above += row[i] > t;
    *target_prob = std::exp(t - lse);
    *target_rank = above;
}

} // namespace

std::vector<std::string> lens_hooks(const ModelConfig& config) {
    std::vector<std::string> hooks;
    for (int64_t l = 0; l < config.n_layers; ++l)
        hooks.push_back(block_hook(l, Site::ResidPre));
    hooks.push_back(block_hook(config.n_layers - 1, Site::ResidPost));
    return hooks;
}

std::vector<int64_t> next_tokens(const std::vector<int64_t>& tokens) {
    std::vector<int64_t> next(tokens.size(), -1);
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i)
        next[i] = tokens[i + 1];
    return next;
}

std::vector<LensLayer> logit_lens(const Model& model, const ActivationCache& cache, int64_t top_k,
                                  const std::vector<int64_t>& targets) {
    const ModelConfig& c = model.config();
    if (top_k < 1 || top_k > c.d_vocab) {
        throw InputError("top-k must be between 1 and the vocabulary's " + std::to_string(c.d_vocab));
    }
    for (const int64_t t : targets) {
        if (t >= 0) check_token_id(t, c.d_vocab, "target token"); // negative: no target there
    }
    const ReadoutWeights r = model.readout_weights();
    std::vector<LensLayer> out;
    for (const std::string& hook : lens_hooks(c)) {
        const at::Tensor& resid = cache[hook];
        if (resid.dim() != 3 || resid.size(0) != 1 || resid.size(2) != c.d_model) {
            throw InputError("`" + hook + "` is not [1, positions, " + std::to_string(c.d_model) + "]");
        }
        const int64_t positions = resid.size(1);
        if (!targets.empty() && static_cast<int64_t>(targets.size()) != positions) {
            throw InputError("the lens needs one target per position (" + std::to_string(positions) + "), got " +
                             std::to_string(targets.size()));
        }
        LensLayer layer{hook, positions, top_k, {}, {}, {}, {}};
        layer.top_ids.resize(static_cast<std::size_t>(positions * top_k));
        layer.top_probs.resize(static_cast<std::size_t>(positions * top_k));
        if (!targets.empty()) {
            layer.target_probs.assign(static_cast<std::size_t>(positions), std::numeric_limits<float>::quiet_NaN());
            layer.target_ranks.assign(static_cast<std::size_t>(positions), -1);
        }
        // Positions in chunks, so that a long run over a large vocabulary holds about
        // 64 MB of logits at a time. The rows of a chunk are read on the kernel threads.
        const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(c.d_vocab, 1));
        for (int64_t begin = 0; begin < positions; begin += chunk) {
            const int64_t end = std::min(positions, begin + chunk);
            const at::Tensor x = resid[0].slice(0, begin, end).to(at::kFloat);
            const at::Tensor logits =
                layers::linear(final_norm(r, x, c.norm_eps), r.unembed, r.unembed_bias).contiguous();
            const float* rows = logits.data_ptr<float>();
            kernels::SpinPool::instance().run([&](int part, int parts) {
                const int64_t n = end - begin;
                for (int64_t i = n * part / parts; i < n * (part + 1) / parts; ++i) {
                    const auto p = static_cast<std::size_t>(begin + i);
                    const int64_t target = targets.empty() ? -1 : targets[p];
                    const float* row = rows + i * c.d_vocab;
                    read_lens_row(row, c.d_vocab, top_k, kernels::log_sum_exp(row, c.d_vocab), target,
                                  layer.top_ids.data() + p * static_cast<std::size_t>(top_k),
                                  layer.top_probs.data() + p * static_cast<std::size_t>(top_k),
                                  target < 0 ? nullptr : &layer.target_probs[p],
                                  target < 0 ? nullptr : &layer.target_ranks[p]);
                }
            });
        }
        out.push_back(std::move(layer));
    }
    return out;
}

std::vector<std::string> attribution_hooks(const ModelConfig& config) {
    std::vector<std::string> hooks{global_hook(Site::Embed)};
    if (config.has_pos_embed) hooks.push_back(global_hook(Site::PosEmbed));
    for (int64_t l = 0; l < config.n_layers; ++l) {
        hooks.push_back(block_hook(l, Site::AttnZ));
        hooks.push_back(block_hook(l, Site::MlpOut));
    }
    hooks.push_back(global_hook(Site::LnFinalScale));
    return hooks;
}

Attribution attribute(const Model& model, const ActivationCache& cache, int64_t position, int64_t target,
                      std::optional<int64_t> contrast) {
    const ModelConfig& c = model.config();
    const int64_t positions = static_cast<int64_t>(cache.tokens().size());
    if (position < 0 || position >= positions) {
        throw InputError("position " + std::to_string(position) + " is outside the run's " + std::to_string(positions) +
                         " positions");
    }
    check_token_id(target, c.d_vocab, "target token");
    if (contrast) check_token_id(*contrast, c.d_vocab, "contrast token");
    const ReadoutWeights r = model.readout_weights();
    // The direction a part of the residual stream is read along, and the norm's scale.
    at::Tensor u = r.unembed[target].to(at::kDouble);
    if (contrast) u = u - r.unembed[*contrast].to(at::kDouble);
    const at::Tensor direction = r.norm_weight.to(at::kDouble) * u;
    const double scale = at_position(cache, global_hook(Site::LnFinalScale), position).item<double>();
    // x [.., D] -> its contribution(s) [..].
    const auto project = [&](const at::Tensor& x) {
        const at::Tensor centred = r.rms_norm ? x : x - x.mean(-1, /*keepdim=*/true);
        return at::matmul(centred, direction) / scale;
    };
    const auto value = [&](const at::Tensor& x) { return project(x).item<double>(); };

    Attribution a;
    a.position = position;
    a.target = target;
    a.contrast = contrast;
    const at::Tensor& logits = cache.logits();
    if (!logits.defined()) throw NotCapturedError("the cache holds no logits");
    a.logit =
        logits[0][position][target].item<double>() - (contrast ? logits[0][position][*contrast].item<double>() : 0.0);

    a.embed = value(at_position(cache, global_hook(Site::Embed), position));
    if (c.has_pos_embed) a.pos_embed = value(at_position(cache, global_hook(Site::PosEmbed), position));
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const ReadoutWeights::Layer& w = r.layers[static_cast<std::size_t>(l)];
        const at::Tensor z = at_position(cache, block_hook(l, Site::AttnZ), position);         // [H, Dh]
        const at::Tensor per_head = at::bmm(z.unsqueeze(1), w.w_o.to(at::kDouble)).squeeze(1); // [H, D]
        const at::Tensor heads = project(per_head).contiguous();
        a.heads.emplace_back(heads.data_ptr<double>(), heads.data_ptr<double>() + heads.numel());
        at::Tensor mlp = at_position(cache, block_hook(l, Site::MlpOut), position);
        if (w.b_out.defined()) {
            mlp = mlp - w.b_out.to(at::kDouble);
            a.biases += value(w.b_out.to(at::kDouble));
        }
        a.mlp.push_back(value(mlp));
        if (w.b_o.defined()) a.biases += value(w.b_o.to(at::kDouble));
    }
    if (r.norm_bias.defined()) a.constant += at::dot(r.norm_bias.to(at::kDouble), u).item<double>();
    if (r.unembed_bias.defined()) {
        a.constant += r.unembed_bias[target].item<double>() - (contrast ? r.unembed_bias[*contrast].item<double>() : 0);
    }

    a.sum = a.embed + a.pos_embed.value_or(0) + a.biases + a.constant;
    for (std::size_t l = 0; l < a.heads.size(); ++l) {
        for (const double h : a.heads[l])
            a.sum += h;
        a.sum += a.mlp[l];
    }
    return a;
}

std::string exact_names_filter(const std::vector<std::string>& hooks) {
    std::string filter;
    for (const std::string& h : hooks)
        filter += (filter.empty() ? "" : ", ") + h;
    return filter;
}

} // namespace hookscope
