#pragma once
// Head detectors: how much each attention head behaves as a previous-token, a
// duplicate-token or an induction head, measured on sequences of T random token ids
// followed by the same T ids again. With A the head's pattern (query x key) on such a
// sequence of 2T positions:
//   previous-token  = mean over i in [1, 2T)   of A[i, i-1]
//   duplicate-token = mean over i in [0, T)    of A[T+i, i]
//   induction       = mean over i in [0, T-1)  of A[T+i, i+1]
// averaged over the sequences. (TransformerLens' detect_head divides by all attention
// mass instead, so its numbers are lower; these are the stripe means.)

#include <cstdint>
#include <vector>

namespace at {
class Tensor;
}

namespace hookscope {

class Model;

struct PatternScores {
    double previous_token = 0, duplicate_token = 0, induction = 0;
};

// The three scores of one pattern `a` [2T, 2T] for repeat length `t`.
PatternScores pattern_scores(const at::Tensor& a, int64_t t);

// T token ids drawn uniformly from the upper 90% of a vocabulary of `vocab` ids
// ([vocab / 10, vocab)) with LibTorch's generator seeded by `seed`, then the same T again.
std::vector<int64_t> repeated_random_tokens(int64_t vocab, int64_t t, uint64_t seed);

struct HeadScores {
    int64_t sequence_length = 0; // T
    int64_t sequences = 0;
    // [layer][head]
    std::vector<std::vector<double>> previous_token, duplicate_token, induction;
};

// Scores of every head, averaged over `sequences` sequences (seeds 0, 1, ...). T shrinks
// to half the model's context when 2T would not fit.
HeadScores head_scores(const Model& model, int64_t t = 50, int64_t sequences = 8);

} // namespace hookscope
