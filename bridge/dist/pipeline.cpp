#include "bridge/dist/pipeline.h"

#include "bridge/io/intervention_files.h"

#include "bridge/core/errors.h"
#include "bridge/core/precision.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/hook_recorder.h"
#include "bridge/model/kv_cache.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <cstring>

namespace hookscope {

namespace {

// What rank 0 asks of the others: [kind, start, positions, flags].
constexpr int64_t kRequestFields = 4;
constexpr int64_t kFinish = 0, kStart = 1, kForward = 2;                // kinds
constexpr int64_t kUsePast = 1, kNewRun = 2, kRecord = 4, kKvCache = 8; // flags

at::Tensor byte_tensor(const std::string& text) {
    at::Tensor bytes = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
    if (!text.empty()) std::memcpy(bytes.data_ptr(), text.data(), text.size());
    return bytes;
}

std::string text_of_tensor(const at::Tensor& bytes) {
    const auto* data = static_cast<const char*>(bytes.data_ptr());
    return bytes.numel() ? std::string(data, data + bytes.numel()) : std::string();
}

} // namespace

Pipeline::Pipeline(ProcessGroup& group, const Model& stage, Interventions interventions)
    : group_(group), stage_(stage), given_(std::move(interventions)), interventions_(given_) {
    // The model path may differ between machines; the weights and the dtype may not.
    const std::string mine = stage_.fingerprint() + " " + std::string(precision_name(stage_.precision()));
    const std::string first = group_.value_of_first("pipeline/model", mine);
    if (first != mine) {
        throw InputError("rank " + std::to_string(group_.rank()) + " loaded another model than rank 0: " + mine +
                         " here, " + first + " on rank 0 (checkpoint fingerprint and dtype)");
    }
    // Each rank reads --intervene itself: the SPECs and the files' contents must agree.
    const std::string specs = interventions_json(given_);
    if (group_.value_of_first("pipeline/interventions", specs) != specs) {
        throw InputError("rank " + std::to_string(group_.rank()) +
                         " was given other interventions than rank 0 (their SPECs, or the files they name "
                         "differ in path or contents): " +
                         specs + " here");
    }
}

Pipeline::~Pipeline() = default;

void Pipeline::send_request(const std::vector<int64_t>& fields) {
    const at::Tensor request = at::tensor(at::ArrayRef<int64_t>(fields), at::kLong);
    for (int r = 1; r < group_.world_size(); ++r)
        group_.send_data(request, r);
}

at::Tensor Pipeline::run_stage(const at::Tensor& input, int64_t start, bool use_past, const NamesFilter* filter,
                               ActivationCache* cache) {
    c10::InferenceMode guard;
    const auto n_layers = static_cast<int>(stage_.config().n_layers);
    HookRecorder hooks = filter ? HookRecorder(stage_.hook_points(), n_layers, *filter, *cache, c10::kCPU)
                         : interventions_.empty() ? HookRecorder()
                                                  : HookRecorder(n_layers);
    if (!interventions_.empty()) hooks.intervene(interventions_);
    hooks.starting_at(start, input.size(1));
    KvCache* past = use_past ? past_.get() : nullptr;
    if (use_past && !past) throw InputError("a KV-cached step before the generation started");
    return stage_.forward_stage(input, start, hooks, past, past && hooks.last_position_suffices());
}

at::Tensor Pipeline::forward(const std::vector<int64_t>& tokens, int64_t start, bool use_past, bool new_run,
                             const NamesFilter* filter, ActivationCache* cache) {
    check_run_tokens(tokens, start, stage_.config().n_ctx, stage_.config().d_vocab);
    const auto positions = static_cast<int64_t>(tokens.size());
    const int64_t flags = (use_past ? kUsePast : 0) | (new_run ? kNewRun : 0) | (filter ? kRecord : 0);
    send_request({kForward, start, positions, flags});
    if (filter) {
        const at::Tensor text = byte_tensor(filter->text());
        for (int r = 1; r < group_.world_size(); ++r)
            group_.send(text, r);
    }
    if (new_run) interventions_.start_run();
    const at::Tensor input = at::tensor(at::ArrayRef<int64_t>(tokens), at::kLong).unsqueeze(0);
    const at::Tensor out = run_stage(input, start, use_past, filter, cache);
    const int last = group_.world_size() - 1;
    if (last == 0) return out;
    group_.send(out, 1);
    at::Tensor logits = group_.receive(last);
    if (filter) {
        // Each rank's hook points in its execution order, the ranks in pipeline order:
        // an index of names, dtypes and shapes, then the data of each.
        for (int r = 1; r <= last; ++r) {
            const nlohmann::json index = nlohmann::json::parse(text_of_tensor(group_.receive(r)));
            for (const nlohmann::json& entry : index) {
                at::Tensor value = at::empty(entry["shape"].get<std::vector<int64_t>>(),
                                             static_cast<at::ScalarType>(entry["dtype"].get<int>()));
                group_.receive_into(value, r);
                cache->add(entry["name"].get<std::string>(), std::move(value));
            }
        }
    }
    return logits;
}

ActivationCache Pipeline::run_with_cache(const std::vector<int64_t>& tokens, const NamesFilter& filter) {
    ActivationCache cache(tokens, filter.text());
    cache.set_logits(forward(tokens, 0, /*use_past=*/false, /*new_run=*/true, &filter, &cache));
    return cache;
}

void Pipeline::start_here(int64_t positions, bool kv_cache) {
    interventions_ = given_;
    interventions_.start_run();
    past_ = kv_cache ? stage_.new_kv_cache(positions) : nullptr;
}

void Pipeline::start(int64_t positions, bool kv_cache) {
    send_request({kStart, 0, positions, kv_cache ? kKvCache : 0});
    start_here(positions, kv_cache);
}

at::Tensor Pipeline::next_logits(const std::vector<int64_t>& sequence) {
    if (!past_) return forward(sequence, 0, false, false, nullptr, nullptr)[0][-1];
    const int64_t start = past_->length();
    const std::vector<int64_t> fresh(sequence.begin() + start, sequence.end());
    return forward(fresh, start, true, false, nullptr, nullptr)[0][-1];
}

ActivationCache Pipeline::recompute(const std::vector<int64_t>& tokens, const NamesFilter& filter, c10::Device device) {
    ActivationCache cache = run_with_cache(tokens, filter);
    if (device == c10::kCPU) return cache;
    ActivationCache moved(tokens, filter.text());
    for (const auto& [name, value] : cache.entries())
        moved.add(name, value.to(device));
    moved.set_logits(cache.logits().to(device));
    return moved;
}

void Pipeline::finish() {
    send_request({kFinish, 0, 0, 0});
}

void Pipeline::serve() {
    const int rank = group_.rank();
    const int next = (rank + 1) % group_.world_size(); // the last stage's logits go to rank 0
    for (;;) {
        at::Tensor request = at::empty({kRequestFields}, at::kLong);
        group_.receive_into(request, 0);
        const int64_t* field = request.data_ptr<int64_t>();
        const int64_t kind = field[0], start = field[1], positions = field[2], flags = field[3];
        if (kind == kFinish) return;
        if (kind == kStart) {
            start_here(positions, flags & kKvCache);
            continue;
        }
        std::optional<NamesFilter> filter;
        if (flags & kRecord) filter.emplace(text_of_tensor(group_.receive(0)));
        if (flags & kNewRun) interventions_.start_run();
        const at::Tensor input = group_.receive(rank - 1);
        if (input.dim() != 3 || input.size(1) != positions) {
            throw InputError("rank " + std::to_string(rank) + " received a residual stream of shape " +
                             std::to_string(input.dim()) + " dimensions for " + std::to_string(positions) +
                             " positions");
        }
        ActivationCache recorded;
        const at::Tensor out =
            run_stage(input, start, flags & kUsePast, filter ? &*filter : nullptr, filter ? &recorded : nullptr);
        group_.send(out, next);
        if (!filter) continue;
        nlohmann::json index = nlohmann::json::array();
        for (const auto& [name, value] : recorded.entries())
            index.push_back(
                {{"name", name}, {"dtype", static_cast<int>(value.scalar_type())}, {"shape", value.sizes()}});
        group_.send(byte_tensor(index.dump()), 0);
        for (const auto& [name, value] : recorded.entries())
            group_.send_data(value, 0);
    }
}

} // namespace hookscope
