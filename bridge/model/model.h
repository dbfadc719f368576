#pragma once
// A loaded transformer and the two ways to run it: a plain forward (logits only),
// and run_with_cache, which also records the hook points a names filter selects.

#include "bridge/core/hook_point.h"
#include "bridge/core/model_config.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/precision.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/weights.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class HookRecorder;
class Interventions;
class KvCache;

// The weights that read the residual stream out, for the analysis views (logit lens,
// direct logit attribution). Tensors as the model holds them: float32, or bfloat16
// under Precision::BFloat16 (convert before arithmetic).
struct ReadoutWeights {
    bool rms_norm = false;   // the final norm: RMSNorm (no centring, no bias), else LayerNorm
    at::Tensor norm_weight;  // [D]
    at::Tensor norm_bias;    // [D]; undefined for RMSNorm
    at::Tensor unembed;      // [V, D]: row t reads token t's logit
    at::Tensor unembed_bias; // [V]; undefined where the model has none
    struct Layer {
        at::Tensor w_o;   // [H, Dh, D]: head h's output is z[h] · w_o[h]
        at::Tensor b_o;   // [D]; undefined where attention has no output bias
        at::Tensor b_out; // [D]; undefined where the MLP has no output bias
    };
    std::vector<Layer> layers;
};

// The model types that have a forward (the model factory's table), in its order.
std::vector<std::string_view> factory_model_types();

// Blocks [first, end) of a model: what one stage of a pipeline holds. The first stage
// (first == 0) also holds the embeddings, the last (end == n_layers) the final norm
// and the unembedding; a whole model is the one stage [0, n_layers).
struct StageRange {
    int first = 0;
    int end = 0;
    bool operator==(const StageRange&) const = default;
};

// `stages` contiguous ranges covering `n_layers` blocks as evenly as possible, the
// first ones one block longer when they do not divide. Throws InputError for fewer
// than one stage or more stages than blocks, naming both counts.
std::vector<StageRange> split_stages(int64_t n_layers, int stages);

class Model {
public:
    // Reads `<folder>/config.json` and the safetensors weights, converted for
    // `precision` (see precision.h). Throws CheckpointError.
    // With `stage`, only the weights of that stage are read (checkpoint.h: a weight not
    // taken is never touched). Throws CheckpointError, InputError for a stage outside
    // the model's blocks.
    static std::unique_ptr<Model> load(const std::filesystem::path& folder, Precision precision = Precision::Float32,
                                       std::optional<StageRange> stage = std::nullopt);
    // The architecture `config` names, on weights held anywhere (tests, benchmarks);
    // `origin` names them in messages. Throws CheckpointError.
    static std::unique_ptr<Model> from_weights(ModelConfig config, const WeightSource& weights,
                                               const std::filesystem::path& origin,
                                               std::optional<StageRange> stage = std::nullopt);

    virtual ~Model() = default;
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelConfig& config() const { return config_; }
    const std::filesystem::path& folder() const { return folder_; }
    const std::string& fingerprint() const { return fingerprint_; }
    int64_t parameter_count() const { return parameter_count_; }
    // Bytes the weights take as this model holds them (converted for its precision).
    int64_t weight_bytes() const { return weight_bytes_; }
    // The blocks this model holds: [0, n_layers) unless it was loaded as a stage.
    StageRange stage() const { return stage_; }
    bool holds_embedding() const { return stage_.first == 0; }
    bool holds_readout() const { return stage_.end == config_.n_layers; }
    bool whole() const { return holds_embedding() && holds_readout(); }
    Precision precision() const { return precision_; }
    // Every hook point this model fires, in execution order (on a stage, the whole
    // model's: it fires those of its own blocks and pieces, under the same names).
    const std::vector<HookInfo>& hook_points() const { return hook_points_; }
    // What load() found wrong but loadable: weights holding NaN or infinite values.
    const std::vector<std::string>& load_warnings() const { return load_warnings_; }

    // Logits [B, P, V] for a batch of token id sequences [B, P] (int64) standing at
    // positions first_position.. of the context, recorded by autograd when the weights
    // require gradients: the trainer's forward. No hooks, no KV cache, no checks beyond
    // the shapes'. Throws InputError for a bad shape or positions past the context.
    at::Tensor forward_batch(const at::Tensor& tokens, int64_t first_position = 0) const;

    // Every method that runs the model takes optional `interventions`, applied at their
    // hook points (interventions.h). Means are taken by the first forward of a run and
    // held: run_with_cache starts a new run; for the others the caller does
    // (Interventions::start_run), so decode steps keep the prompt pass's means.

    // The methods below run a whole model; on a stage they throw InputError (a stage
    // runs through forward_stage).

    // Logits [1, P, V] for one sequence of token ids. Throws InputError for an empty
    // sequence, ids outside the vocabulary, or more positions than the model has.
    at::Tensor forward(const std::vector<int64_t>& tokens, Interventions* interventions = nullptr) const;

    // The activations at every hook point `filter` selects (on `device`), in execution
    // order, with the logits. Unselected hooks cost nothing: no copy is made or kept.
    ActivationCache run_with_cache(const std::vector<int64_t>& tokens, const NamesFilter& filter = {},
                                   c10::Device device = c10::kCPU, Interventions* interventions = nullptr) const;

    // The rows of each of `prompts` (token ids from position 0) at the hook points
    // `filter` selects, from one forward over the prompts packed end to end, each at its
    // own positions and attending only to itself (HookRecorder::pack): a prompt's rows
    // equal its forward alone up to the order of sums inside the products. The forward
    // ends right after the last selected hook point (no logits). Per prompt,
    // its rows [P, ...] by hook name, in execution order. Throws InputError as forward
    // does, and for a filter that selects an attention matrix (not one row per token).
    std::vector<NamedTensors> capture_rows(const std::vector<std::vector<int64_t>>& prompts,
                                           const NamesFilter& filter) const;

    // The logits [B, 1, V] of the last position, for residual streams `resid` [B, P, D]
    // entering block `first_block` at positions 0..P-1, through the blocks from there on
    // with `interventions` applied (their means held as they are). What came before
    // block `first_block` is the caller's: a patching sweep passes a run's own residual
    // stream and recomputes only what a patch can change. Throws InputError for a bad
    // shape or block.
    at::Tensor last_logits_from_block(const at::Tensor& resid, int first_block,
                                      Interventions* interventions = nullptr) const;

    // The final norm, the unembedding and each layer's output projections. Throws
    // InputError on a stage, which holds only some of them.
    ReadoutWeights readout_weights() const;

    // A key/value cache for decoding up to `positions` positions (capped at the
    // context), for the layers of this model's stage.
    std::unique_ptr<KvCache> new_kv_cache(int64_t positions) const;

    // This model's stage of the forward pass, the same forward a whole model runs:
    // `input` is token ids [B, P] (int64) on the first stage, else the residual stream
    // [B, P, D] entering block stage().first, at positions start..start+P-1. Fires the
    // stage's hook points (global names) through `hooks`; with `past` (the stage's
    // layers, B = 1, start = past->length()) the keys and values are appended to it.
    // Returns the residual stream [B, P, D] after the stage's last block, or on the last
    // stage the logits [B, P, V] ([B, 1, V] with `last_position`). Checks nothing
    // beyond what the ops check: the caller's checks run once, on the first stage.
    at::Tensor forward_stage(const at::Tensor& input, int64_t start, HookRecorder& hooks, KvCache* past,
                             bool last_position) const;

    // Feeds `tokens` at the positions after those already in `past` (the prompt, then
    // one token per step) and returns the logits [V] of the last one. Throws InputError
    // as forward does, and when the positions would pass the context. The same forward
    // as run_with_cache: one position takes the one-position kernels inside the ops.
    at::Tensor decode(const std::vector<int64_t>& tokens, KvCache& past, Interventions* interventions = nullptr) const;

    // decode() recording the hook points `filter` selects at the positions this step
    // computes ([B, P, ...] with P the new positions; the attention matrices [B, H, P, T]
    // over every position so far; after the blocks only the last position). The cache's
    // logits are the last position's, [1, 1, V].
    ActivationCache decode_with_cache(const std::vector<int64_t>& tokens, KvCache& past, const NamesFilter& filter,
                                      Interventions* interventions = nullptr) const;

protected:
    // `stage`: the blocks the architecture takes the weights of (the whole model by default).
    Model(ModelConfig config, std::filesystem::path folder, std::string fingerprint,
          std::optional<StageRange> stage = std::nullopt);
    // The weight `name` from `source` (WeightSource::weight: checked against `shape`,
    // converted to the compute type), counted in the parameter count and the precision
    // (bfloat16 when any weight is, float64 when they are). Architectures take every
    // weight through it, once: a tied unembedding reuses the embedding's tensor. `use`
    // Repacked for a weight the architecture copies into a layout of its own at once.
    at::Tensor take_weight(const WeightSource& source, std::string_view name, const std::vector<int64_t>& shape,
                           WeightUse use = WeightUse::Held);
    // An nn.Linear weight [out, in] of a block's products, taken as take_weight does and
    // held in column blocks where layers::to_column_blocks would (bfloat16 rows longer
    // than layers::kMostBlockColumns): then read once from the source into its blocks.
    at::Tensor take_linear(const WeightSource& source, std::string_view name, const std::vector<int64_t>& shape);

    // The three pieces of the forward pass each architecture writes, which every run
    // (whole model or stage) puts together:
    // the embeddings of `tokens` [B, P] (int64) at positions start..start+P-1, [B, P, D];
    virtual at::Tensor embed(const at::Tensor& tokens, int64_t start, HookRecorder& hooks) const = 0;
    // the residual stream `resid` [B, P, D] through blocks [first, end) (within stage()),
    // appending keys and values to `past` when given;
    virtual at::Tensor run_blocks(const at::Tensor& resid, int first, int end, int64_t start, HookRecorder& hooks,
                                  KvCache* past) const = 0;
    // the final norm and the unembedding of the residual stream after the blocks,
    // logits [B, P, V].
    virtual at::Tensor readout(const at::Tensor& resid, HookRecorder& hooks) const = 0;
    // What readout_weights() returns, called on a whole model only.
    virtual ReadoutWeights gather_readout_weights() const = 0;

private:
    // The forward pass over `tokens` [B, P] (int64) at positions start..start+P-1, firing
    // every hook point through `hooks`; returns the logits [B, P, V]. Without `past` the
    // tokens attend only to each other. With `past` (B = 1, start = past->length()), they
    // follow the positions already in it, their keys and values are appended to it, and
    // only the last position's logits [1, 1, V] are returned (every position's when an
    // intervention acts after the blocks: HookRecorder::last_position_suffices). The
    // prompt pass, every decode step and the recompute all run through it.
    at::Tensor forward_with_hooks(const at::Tensor& tokens, int64_t start, HookRecorder& hooks, KvCache* past) const;

    HookRecorder interventions_only(Interventions* interventions) const;
    at::Tensor checked_tokens(const std::vector<int64_t>& tokens, int64_t start = 0) const;
    void require_whole() const;

    ModelConfig config_;
    std::filesystem::path folder_;
    std::string fingerprint_;
    std::vector<HookInfo> hook_points_;
    StageRange stage_;
    int64_t parameter_count_ = 0;
    int64_t weight_bytes_ = 0;
    Precision precision_ = Precision::Float32;
    std::vector<std::string> load_warnings_;
};

} // namespace hookscope
