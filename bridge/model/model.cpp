#include "bridge/model/model.h"

#include "bridge/core/errors.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/arch/gpt2.h"
#include "bridge/model/arch/gpt_neox.h"
#include "bridge/model/arch/llama.h"
#include "bridge/model/block_pool.h"
#include "bridge/model/checkpoint.h"
#include "bridge/model/hook_recorder.h"
#include "bridge/model/kv_cache.h"
#include "bridge/model/layers.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace hookscope {

HookRecorder::HookRecorder(const std::vector<HookInfo>& points, int n_layers, const NamesFilter& filter,
                           ActivationCache& cache, c10::Device device)
    : HookRecorder(n_layers) {
    cache_ = &cache;
    device_ = device;
    for (const HookInfo& info : points) {
        if (filter.matches(info.name)) flags_[slot(info.point)] |= kRecord;
    }
}

HookRecorder::HookRecorder(int n_layers)
    : flags_(static_cast<std::size_t>(kSiteCount) * static_cast<std::size_t>(n_layers + 1), 0),
      stride_(static_cast<std::size_t>(n_layers + 1)) {}

void HookRecorder::intervene(Interventions& interventions) {
    interventions_ = &interventions;
    for (const Intervention& item : interventions.items()) {
        flags_[slot(item.spec.point)] |= kIntervene;
        if (item.spec.point.site > Site::ResidPost) after_blocks_ = true;
    }
    if (interventions.cell_patches()) flags_[slot(interventions.cell_patches()->hook.point)] |= kIntervene;
}

void HookRecorder::pack(std::vector<int64_t> lengths) {
    std::vector<int64_t> positions;
    for (const int64_t length : lengths) {
        for (int64_t p = 0; p < length; ++p)
            positions.push_back(p);
    }
    packed_positions_ = at::tensor(at::ArrayRef<int64_t>(positions), at::kLong);
    packed_lengths_ = std::move(lengths);
}

void HookRecorder::end_after_last_record() {
    records_left_ =
        static_cast<int>(std::count_if(flags_.begin(), flags_.end(), [](uint8_t f) { return f & kRecord; }));
}

at::Tensor HookRecorder::fire_selected(HookPoint point, at::Tensor value) {
    const uint8_t flags = flags_[slot(point)];
    if (flags & kIntervene) value = interventions_->apply(point, value, end_);
    if (flags & kRecord) {
        cache_->add(point.to_string(), value.to(device_));
        if (records_left_ > 0 && --records_left_ == 0) throw ForwardEnded{};
    }
    return value;
}

namespace {

// The factory half of the architecture registry: each architecture is one file in
// arch/, listed here by the model types it runs (the config parser's table in
// bridge/core/model_config.cpp is the other half; a test keeps them in step).
struct Architecture {
    std::string_view model_type;
    std::unique_ptr<Model> (*make)(ModelConfig, const WeightSource&, std::filesystem::path, StageRange);
};
constexpr Architecture kArchitectures[] = {
    {"gpt2", make_gpt2},     {"gpt_neox", make_gpt_neox}, {"llama", make_llama},
    {"mistral", make_llama}, {"qwen2", make_llama},
};

const Architecture& architecture_for(const ModelConfig& config, const std::filesystem::path& origin) {
    for (const Architecture& a : kArchitectures) {
        if (config.model_type == a.model_type) return a;
    }
    throw CheckpointError(origin.string() + ": no forward for model_type `" + config.model_type + "`");
}

StageRange checked_stage(const ModelConfig& config, std::optional<StageRange> stage) {
    const auto n_layers = static_cast<int>(config.n_layers);
    if (!stage) return {0, n_layers};
    if (stage->first < 0 || stage->first >= stage->end || stage->end > n_layers) {
        throw InputError("blocks " + std::to_string(stage->first) + " to " + std::to_string(stage->end - 1) +
                         " are not a stage of a model with " + std::to_string(n_layers) + " blocks");
    }
    return *stage;
}

} // namespace

std::vector<StageRange> split_stages(int64_t n_layers, int stages) {
    if (stages < 1 || stages > n_layers) {
        throw InputError(std::to_string(stages) + " pipeline stages for a model with " + std::to_string(n_layers) +
                         " blocks: each stage needs at least one block, so use 1 to " + std::to_string(n_layers) +
                         " processes");
    }
    std::vector<StageRange> ranges;
    const auto each = static_cast<int>(n_layers / stages), longer = static_cast<int>(n_layers % stages);
    int first = 0;
    for (int k = 0; k < stages; ++k) {
        const int end = first + each + (k < longer ? 1 : 0);
        ranges.push_back({first, end});
        first = end;
    }
    return ranges;
}

std::vector<std::string_view> factory_model_types() {
    std::vector<std::string_view> types;
    for (const Architecture& a : kArchitectures)
        types.push_back(a.model_type);
    return types;
}

Model::Model(ModelConfig config, std::filesystem::path folder, std::string fingerprint, std::optional<StageRange> stage)
    : config_(std::move(config)), folder_(std::move(folder)), fingerprint_(std::move(fingerprint)),
      hook_points_(hook_points_for(config_)), stage_(checked_stage(config_, stage)) {
    block_pool::install();
}

std::unique_ptr<Model> Model::load(const std::filesystem::path& folder, Precision precision,
                                   std::optional<StageRange> stage) {
    // The last model's freed blocks would only stand in the way of this one's weights.
    block_pool::release_pooled_memory();
    ModelConfig config = load_model_config(folder);
    const Architecture& architecture = architecture_for(config, folder); // before any weight is read
    const StageRange range = checked_stage(config, stage);
    const Checkpoint checkpoint = Checkpoint::open(folder, precision);
    std::unique_ptr<Model> model = architecture.make(std::move(config), checkpoint, folder, range);
    model->load_warnings_ = checkpoint.warnings();
    return model;
}

std::unique_ptr<Model> Model::from_weights(ModelConfig config, const WeightSource& weights,
                                           const std::filesystem::path& origin, std::optional<StageRange> stage) {
    const Architecture& architecture = architecture_for(config, origin);
    const StageRange range = checked_stage(config, stage);
    return architecture.make(std::move(config), weights, origin, range);
}

HookRecorder Model::interventions_only(Interventions* interventions) const {
    if (!interventions || interventions->empty()) return {};
    HookRecorder hooks(static_cast<int>(config_.n_layers));
    hooks.intervene(*interventions);
    return hooks;
}

void Model::require_whole() const {
    if (whole()) return;
    throw InputError("this model holds blocks " + std::to_string(stage_.first) + " to " +
                     std::to_string(stage_.end - 1) + " of " + std::to_string(config_.n_layers) +
                     " only: run it as a stage of a pipeline");
}

ReadoutWeights Model::readout_weights() const {
    require_whole();
    return gather_readout_weights();
}

at::Tensor Model::forward_stage(const at::Tensor& input, int64_t start, HookRecorder& hooks, KvCache* past,
                                bool last_position) const {
    const at::Tensor entering = holds_embedding() ? embed(input, start, hooks) : input;
    const at::Tensor resid = run_blocks(entering, stage_.first, stage_.end, start, hooks, past);
    if (!holds_readout()) return layers::after_blocks(resid, past, input.size(1), false);
    return readout(layers::after_blocks(resid, past, input.size(1), last_position), hooks);
}

at::Tensor Model::forward_with_hooks(const at::Tensor& tokens, int64_t start, HookRecorder& hooks,
                                     KvCache* past) const {
    return forward_stage(tokens, start, hooks, past, past && hooks.last_position_suffices());
}

at::Tensor Model::checked_tokens(const std::vector<int64_t>& tokens, int64_t start) const {
    require_whole();
    check_run_tokens(tokens, start, config_.n_ctx, config_.d_vocab);
    return at::tensor(at::ArrayRef<int64_t>(tokens), at::kLong).unsqueeze(0);
}

at::Tensor Model::forward(const std::vector<int64_t>& tokens, Interventions* interventions) const {
    const at::Tensor input = checked_tokens(tokens);
    c10::InferenceMode guard;
    HookRecorder hooks = interventions_only(interventions);
    hooks.starting_at(0, input.size(1));
    return forward_with_hooks(input, 0, hooks, nullptr);
}

at::Tensor Model::forward_batch(const at::Tensor& tokens, int64_t first_position) const {
    if (tokens.dim() != 2 || tokens.scalar_type() != at::kLong || tokens.size(1) == 0 || first_position < 0 ||
        first_position + tokens.size(1) > config_.n_ctx) {
        throw InputError("forward_batch needs int64 token ids [batch, positions] that fit the context of " +
                         std::to_string(config_.n_ctx) + " positions from position " + std::to_string(first_position));
    }
    require_whole();
    HookRecorder nothing;
    return forward_with_hooks(tokens, first_position, nothing, nullptr);
}

std::unique_ptr<KvCache> Model::new_kv_cache(int64_t positions) const {
    return std::make_unique<KvCache>(stage_.end - stage_.first, config_.n_kv_heads, config_.d_head,
                                     std::clamp<int64_t>(positions, 1, config_.n_ctx), stage_.first);
}

at::Tensor Model::take_weight(const WeightSource& source, std::string_view name, const std::vector<int64_t>& shape,
                              WeightUse use) {
    at::Tensor weight = source.weight(name, shape, use);
    parameter_count_ += weight.numel();
    weight_bytes_ += static_cast<int64_t>(weight.nbytes());
    if (weight.scalar_type() == at::kBFloat16) {
        precision_ = Precision::BFloat16;
    } else if (weight.scalar_type() == at::kDouble && precision_ != Precision::BFloat16) {
        precision_ = Precision::Float64;
    }
    return weight;
}

at::Tensor Model::take_linear(const WeightSource& source, std::string_view name, const std::vector<int64_t>& shape) {
    const bool blocks =
        source.precision() == Precision::BFloat16 && shape.size() == 2 && layers::column_block_count(shape[1]) > 1;
    const at::Tensor weight = take_weight(source, name, shape, blocks ? WeightUse::Repacked : WeightUse::Held);
    if (!blocks) return weight;
    at::Tensor held = layers::to_column_blocks(weight);
    if (!held.is_same(weight)) source.release(name);
    return held;
}

at::Tensor Model::decode(const std::vector<int64_t>& tokens, KvCache& past, Interventions* interventions) const {
    const at::Tensor input = checked_tokens(tokens, past.length());
    c10::InferenceMode guard;
    HookRecorder hooks = interventions_only(interventions);
    hooks.starting_at(past.length(), input.size(1));
    return forward_with_hooks(input, past.length(), hooks, &past)[0][-1];
}

ActivationCache Model::decode_with_cache(const std::vector<int64_t>& tokens, KvCache& past, const NamesFilter& filter,
                                         Interventions* interventions) const {
    const at::Tensor input = checked_tokens(tokens, past.length());
    c10::InferenceMode guard;
    ActivationCache cache(tokens, filter.text());
    HookRecorder hooks(hook_points_, static_cast<int>(config_.n_layers), filter, cache, c10::kCPU);
    if (interventions) hooks.intervene(*interventions);
    hooks.starting_at(past.length(), input.size(1));
    cache.set_logits(forward_with_hooks(input, past.length(), hooks, &past).slice(1, -1));
    return cache;
}

at::Tensor Model::last_logits_from_block(const at::Tensor& resid, int first_block, Interventions* interventions) const {
    if (resid.dim() != 3 || resid.size(2) != config_.d_model || resid.size(1) == 0 || resid.size(1) > config_.n_ctx ||
        first_block < 0 || first_block >= config_.n_layers) {
        throw InputError("the blocks from " + std::to_string(first_block) + " take a residual stream [batch, " +
                         "positions, " + std::to_string(config_.d_model) + "] of a model with " +
                         std::to_string(config_.n_layers) + " blocks and " + std::to_string(config_.n_ctx) +
                         " positions");
    }
    require_whole();
    c10::InferenceMode guard;
    HookRecorder hooks = interventions_only(interventions);
    hooks.starting_at(0, resid.size(1));
    const at::Tensor after = run_blocks(resid, first_block, stage_.end, 0, hooks, nullptr);
    return readout(layers::after_blocks(after, nullptr, resid.size(1), /*last_position=*/true), hooks);
}

ActivationCache Model::run_with_cache(const std::vector<int64_t>& tokens, const NamesFilter& filter, c10::Device device,
                                      Interventions* interventions) const {
    const at::Tensor input = checked_tokens(tokens);
    c10::InferenceMode guard;
    ActivationCache cache(tokens, filter.text());
    HookRecorder hooks(hook_points_, static_cast<int>(config_.n_layers), filter, cache, device);
    if (interventions) {
        interventions->start_run();
        hooks.intervene(*interventions);
    }
    hooks.starting_at(0, input.size(1));
    cache.set_logits(forward_with_hooks(input, 0, hooks, nullptr).to(device));
    return cache;
}

std::vector<NamedTensors> Model::capture_rows(const std::vector<std::vector<int64_t>>& prompts,
                                              const NamesFilter& filter) const {
    for (const HookInfo& info : hook_points_) {
        if (filter.matches(info.name) && is_attention_matrix(info.name)) {
            throw InputError("hook point `" + info.name + "` holds an attention matrix, not one row per token");
        }
    }
    if (prompts.empty()) return {};
    // The prompts laid end to end in one row, each attending only to itself: the
    // products see every real token once and no padding.
    std::vector<int64_t> tokens, lengths;
    for (const std::vector<int64_t>& prompt : prompts) {
        checked_tokens(prompt);
        tokens.insert(tokens.end(), prompt.begin(), prompt.end());
        lengths.push_back(static_cast<int64_t>(prompt.size()));
    }
    const at::Tensor input = at::tensor(at::ArrayRef<int64_t>(tokens), at::kLong).unsqueeze(0);

    c10::InferenceMode guard;
    ActivationCache cache({}, filter.text());
    HookRecorder hooks(hook_points_, static_cast<int>(config_.n_layers), filter, cache, c10::kCPU);
    hooks.pack(lengths);
    hooks.end_after_last_record();
    hooks.starting_at(0, input.size(1));
    try {
        forward_with_hooks(input, 0, hooks, nullptr);
    } catch (const ForwardEnded&) {
    }
    std::vector<NamedTensors> rows(prompts.size());
    for (const auto& [name, value] : cache.entries()) {
        // A point shared by the row (GPT-2's position embeddings, [1, P, D]) is as long too.
        const at::Tensor all = value[0];
        int64_t first = 0;
        for (std::size_t b = 0; b < prompts.size(); ++b) {
            // Copied out when there are several, so no prompt's rows hold the others' alive.
            const at::Tensor prompt_rows = all.slice(0, first, first + lengths[b]);
            rows[b].emplace_back(name, prompts.size() > 1 ? prompt_rows.clone() : prompt_rows);
            first += lengths[b];
        }
    }
    return rows;
}

} // namespace hookscope
