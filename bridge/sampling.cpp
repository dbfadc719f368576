#include "bridge/sampling.h"

#include "bridge/errors.h"

#include <ATen/ATen.h>

#include <limits>

namespace hookscope {

namespace {
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

bool greedy(const SamplingSettings& s) {
    return !s.do_sample || s.temperature == 0.0;
}
} // namespace

void check_sampling(const SamplingSettings& s) {
    if (!(s.temperature >= 0)) throw InputError("temperature must be 0 or more, got " + std::to_string(s.temperature));
    if (s.top_k && *s.top_k < 1) throw InputError("top-k must be at least 1, got " + std::to_string(*s.top_k));
    if (s.top_p && !(*s.top_p > 0 && *s.top_p <= 1)) {
        throw InputError("top-p must be in (0, 1], got " + std::to_string(*s.top_p));
    }
    if (!(s.repetition_penalty > 0)) {
        throw InputError("repetition penalty must be positive, got " + std::to_string(s.repetition_penalty));
    }
    if (!(s.freq_penalty >= 0)) {
        throw InputError("frequency penalty must be 0 or more, got " + std::to_string(s.freq_penalty));
    }
}

at::Tensor processed_logits(const at::Tensor& logits, const std::vector<int64_t>& context, const SamplingSettings& s) {
    at::Tensor out = logits.to(at::kFloat).clone();
    const int64_t vocab = out.size(0);
    const at::Tensor seen = context.empty() ? at::empty({0}, at::kLong)
                                            : at::tensor(at::ArrayRef<int64_t>(context), at::kLong).clamp(0, vocab - 1);
    if (s.repetition_penalty != 1.0 && seen.numel() > 0) {
        const at::Tensor ids = std::get<0>(at::_unique(seen));
        const at::Tensor values = out.index_select(0, ids);
        out.index_put_({ids}, at::where(values > 0, values / s.repetition_penalty, values * s.repetition_penalty));
    }
    if (greedy(s)) return out;
    out.div_(s.temperature);
    if (s.freq_penalty > 0 && seen.numel() > 0) out.sub_(at::bincount(seen, {}, vocab).to(at::kFloat), s.freq_penalty);
    if (s.top_k) {
        const int64_t k = std::min(*s.top_k, vocab);
        const at::Tensor kth = std::get<0>(out.topk(k)).index({k - 1});
        out.masked_fill_(out < kth, kMinusInf);
    } else if (s.top_p) {
        const auto [sorted, order] = out.sort(/*dim=*/0, /*descending=*/true);
        const at::Tensor cumulative = sorted.softmax(0).cumsum(0);
        at::Tensor remove = cumulative > *s.top_p;
        // Shift right: a token is removed only when the ones before it already pass p,
        // so the most likely token always stays.
        remove = at::cat({at::zeros({1}, at::kBool), remove.slice(0, 0, vocab - 1)});
        out.index_put_({order.masked_select(remove)}, kMinusInf);
    }
    return out;
}

TokenChoice choose_token(const at::Tensor& logits, const std::vector<int64_t>& context, const SamplingSettings& s,
                         at::Generator& generator) {
    const at::Tensor processed = processed_logits(logits, context, s);
    const at::Tensor logprobs = processed.log_softmax(0);
    TokenChoice choice;
    if (greedy(s)) {
        choice.id = processed.argmax().item<int64_t>();
    } else {
        choice.id = at::multinomial(logprobs.exp(), 1, /*replacement=*/false, generator).item<int64_t>();
    }
    choice.logprob = logprobs[choice.id].item<double>();
    const auto [top_values, top_ids] = logprobs.topk(std::min<int64_t>(5, logprobs.size(0)));
    for (int64_t k = 0; k < top_ids.size(0); ++k) {
        const double value = top_values[k].item<double>();
        if (value == -std::numeric_limits<double>::infinity()) break;
        choice.top.emplace_back(top_ids[k].item<int64_t>(), value);
    }
    return choice;
}

} // namespace hookscope
