#pragma once
// Choosing the next token from logits, in TransformerLens' order: repetition penalty,
// temperature, frequency penalty, then top-k (which wins when both are set) or top-p,
// then a draw. Greedy is the argmax after the repetition penalty (as TransformerBridge).

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace hookscope {

struct SamplingSettings {
    bool do_sample = true;           // false: greedy
    double temperature = 1.0;        // 0 means greedy, as in TransformerLens
    std::optional<int64_t> top_k;    // keep the k most likely tokens
    std::optional<double> top_p;     // keep the smallest set whose probability exceeds p
    double repetition_penalty = 1.0; // Hugging Face style, on tokens already in the sequence
    double freq_penalty = 0.0;       // minus penalty x count of each token in the sequence
};

// Throws InputError for settings out of range (temperature < 0, top_k < 1, top_p
// outside (0, 1], repetition penalty <= 0, frequency penalty < 0).
void check_sampling(const SamplingSettings& s);

// The logits the token is drawn from (or the argmax taken of), given the sequence so
// far `context`: logits [V] float, penalties, temperature and filters applied. Filtered
// tokens are -inf. Greedy without a repetition penalty gives `logits` themselves (as
// float): read them, never write.
at::Tensor processed_logits(const at::Tensor& logits, const std::vector<int64_t>& context, const SamplingSettings& s);

struct TokenChoice {
    int64_t id = 0;
    double logprob = 0;                          // under the distribution it was drawn from
    std::vector<std::pair<int64_t, double>> top; // the 5 most likely tokens there, with logprobs
};

TokenChoice choose_token(const at::Tensor& logits, const std::vector<int64_t>& context, const SamplingSettings& s,
                         at::Generator& generator);

} // namespace hookscope
