#include "bridge/analysis/head_scores.h"

#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/model/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace hookscope {

PatternScores pattern_scores(const at::Tensor& a, int64_t t) {
    if (a.dim() != 2 || a.size(0) != 2 * t || a.size(1) != 2 * t || t < 2) {
        throw InputError("pattern_scores needs a [2T, 2T] pattern with T >= 2, got " + shape_text(a.sizes()) +
                         " for T = " + std::to_string(t));
    }
    const at::Tensor p = a.to(at::kDouble);
    PatternScores s;
    s.previous_token = p.diagonal(-1).mean().item<double>();                                   // A[i, i-1], i >= 1
    s.duplicate_token = p.slice(0, t, 2 * t).slice(1, 0, t).diagonal(0).mean().item<double>(); // A[T+i, i]
    s.induction = p.slice(0, t, 2 * t - 1).slice(1, 1, t).diagonal(0).mean().item<double>();   // A[T+i, i+1]
    return s;
}

std::vector<int64_t> repeated_random_tokens(int64_t vocab, int64_t t, uint64_t seed) {
    at::Generator generator = at::detail::createCPUGenerator(seed);
    const at::Tensor ids = at::randint(vocab / 10, vocab, {t}, generator, at::kLong);
    std::vector<int64_t> out(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + t);
    out.insert(out.end(), out.begin(), out.end());
    return out;
}

HeadScores head_scores(const Model& model, int64_t t, int64_t sequences) {
    const ModelConfig& c = model.config();
    t = std::min(t, c.n_ctx / 2);
    if (t < 2 || sequences < 1) throw InputError("head scores need T >= 2 and at least one sequence");
    HeadScores out;
    out.sequence_length = t;
    out.sequences = sequences;
    const auto layers = static_cast<std::size_t>(c.n_layers), heads = static_cast<std::size_t>(c.n_heads);
    for (auto* m : {&out.previous_token, &out.duplicate_token, &out.induction})
        m->assign(layers, std::vector<double>(heads, 0.0));
    c10::InferenceMode guard;
    const NamesFilter patterns("blocks.*.attn.hook_pattern");
    for (int64_t s = 0; s < sequences; ++s) {
        const ActivationCache cache =
            model.run_with_cache(repeated_random_tokens(c.d_vocab, t, static_cast<uint64_t>(s)), patterns);
        for (std::size_t l = 0; l < layers; ++l) {
            const at::Tensor pattern =
                cache[HookPoint::block(Site::AttnPattern, static_cast<int>(l)).to_string()][0]; // [H, 2T, 2T]
            for (std::size_t h = 0; h < heads; ++h) {
                const PatternScores p = pattern_scores(pattern[static_cast<int64_t>(h)], t);
                out.previous_token[l][h] += p.previous_token / static_cast<double>(sequences);
                out.duplicate_token[l][h] += p.duplicate_token / static_cast<double>(sequences);
                out.induction[l][h] += p.induction / static_cast<double>(sequences);
            }
        }
    }
    return out;
}

} // namespace hookscope
