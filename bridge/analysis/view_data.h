#pragma once
// What the views show, computed from cached tensors by pure functions: matrices,
// norms, colour ranges, differences between runs, statistics, the most likely tokens.
// The views only draw what they are given.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace hookscope {

class ActivationCache;

// Row-major values; NaN marks a cell that is masked (drawn as masked, not as a colour).
struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<double> values;
    double at(int64_t r, int64_t c) const { return values[static_cast<std::size_t>(r * cols + c)]; }
};

// How a hook's tensor is laid out, from its name and rank.
enum class HookLayout {
    Vectors,     // [1, pos, d]: one vector per position (residual stream, mlp, ln)
    HeadVectors, // [1, pos, heads, d_head]: q, k, v, z, rot_q, rot_k
    HeadMatrix,  // [1, heads, pos, pos]: attention pattern and scores
    Scalars,     // [1, pos, 1]: norm scales
    Other,
};
HookLayout layout_of(const std::string& name, const std::vector<int64_t>& shape);

// Heads of a HeadVectors or HeadMatrix tensor (1 for the others).
int64_t head_count(const std::string& name, const at::Tensor& t);

// The tensor of one batch element as a positions x features matrix: Vectors and
// Scalars as they are, HeadVectors at `head` ([pos, d_head]), HeadMatrix at `head`
// ([query, key]) with -inf (masked scores) as NaN.
Matrix hook_matrix(const std::string& name, const at::Tensor& t, int64_t head = 0);

// hook_matrix reduced to at most `size` x `size` cells, each the largest value of the
// cells it covers (attention peaks survive): cheap thumbnails of long sequences.
Matrix pooled_matrix(const std::string& name, const at::Tensor& t, int64_t head, int64_t size);

// L2 norm of each row (NaN cells skipped).
std::vector<double> row_norms(const Matrix& m);

// How a heatmap maps values to colours: [lower, upper] across the gradient, diverging
// (blue, white in the middle, red) or sequential (dark to light).
struct ColourRange {
    double lower = 0, upper = 1;
    bool diverging = false;
    bool operator==(const ColourRange&) const = default;
};

// The colour range for `m`: [min, max] of its finite values, or symmetric around 0
// (±max |value|) and diverging when the values have both signs, so that 0 is the middle
// colour; diverging too when every value is negative. A matrix whose finite values are all
// one value v (uniform_value) would have a range of zero width, which draws nothing: it
// gets v ± |v| / 10 (±1 for 0) on the sequential gradient, so that its cells show the
// gradient's middle colour, never the white of a diverging middle that looks empty.
ColourRange colour_range(const Matrix& m);

// The colour range that two side-by-side matrices share (colour_range of all their values
// together), so that equal values look alike in both.
ColourRange colour_range(const Matrix& a, const Matrix& b);

// The value every finite cell of `m` holds, when they all hold the same one; nullopt when
// they differ or none is finite.
std::optional<double> uniform_value(const Matrix& m);

// `current` minus `pinned`, one hook point of two runs, over the positions both have
// (queries and keys alike for attention matrices): runs of different lengths are
// aligned by position. Masked attention scores stay masked (NaN). A difference no
// larger than float32 rounding can make is exactly 0: two float32 computations of one
// value, each rounded a few times, agree to within 8 · 2⁻²⁴ of the largest finite
// magnitude of the two tensors, and a plot scaled to that noise would show it as data.
// Throws std::invalid_argument naming both shapes when they differ in more than positions.
at::Tensor run_difference(const std::string& name, const at::Tensor& current, const at::Tensor& pinned);

// Whether every value of `t` is 0 (masked NaN values aside): two runs whose
// run_difference this is agree within float32 rounding.
bool all_zero(const at::Tensor& t);

// Which run a comparing view shows.
enum class RunChoice { Current, Pinned, Difference };

// Hook `name` of the chosen run: this run's tensor, the pinned run's, or their
// run_difference. Without a pinned run, this run's. Throws std::invalid_argument
// saying which run lacks the hook, or (run_difference) why they cannot be compared.
at::Tensor chosen_tensor(const std::string& name, RunChoice choice, const ActivationCache& current,
                         const ActivationCache* pinned);

// The L2 norm of the residual stream through the layers: stage k is blocks.k.hook_resid_pre,
// the last stage the final blocks.{L-1}.hook_resid_post. Stages missing from the cache
// are skipped. norms[stage][position].
struct ResidualNorms {
    std::vector<std::string> stages;
    std::vector<std::vector<double>> norms;
};
ResidualNorms residual_norms(const ActivationCache& cache, int64_t layers);

// The k most likely tokens at each position of logits [1, pos, vocab], with their
// probabilities, most likely first.
struct TokenProbability {
    int64_t id = 0;
    double probability = 0;
};
std::vector<std::vector<TokenProbability>> top_tokens(const at::Tensor& logits, int64_t k);

// Where token `id` stands at `position` of logits [1, pos, vocab]: its rank among the
// vocabulary (1 for the most likely; tokens of equal probability share the best rank,
// so two tied first are both 1 and the next is 3) and its softmax probability, computed
// as top_tokens computes it. Throws InputError for an id outside the vocabulary or a
// position outside the logits.
struct TokenRank {
    int64_t rank = 0;
    double probability = 0;
};
TokenRank token_rank(const at::Tensor& logits, int64_t position, int64_t id);

// The token the model predicts after `position` (the argmax of the cache's logits
// there), or nullopt when the cache holds no logits for it.
std::optional<int64_t> predicted_token(const ActivationCache& cache, int64_t position);

// Min, max, mean and L2 norm of a tensor's finite values (masked attention scores hold
// -inf); nullopt when it has none.
struct TensorStats {
    double min = 0, max = 0, mean = 0, l2_norm = 0;
};
// For every captured tensor, in cache order. Slow for big caches: run it off the GUI
// thread.
std::vector<std::optional<TensorStats>> tensor_stats(const ActivationCache& cache);

// Layers and heads as the cache's tensors show them (for a cache without its model,
// e.g. from a session): layers from the highest blocks.N, heads from an attention
// pattern, score or query tensor, kv heads from a key tensor (else = heads).
struct CacheShape {
    int64_t layers = 0, heads = 0, kv_heads = 0;
};
CacheShape cache_shape(const ActivationCache& cache);

} // namespace hookscope
