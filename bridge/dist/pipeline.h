#pragma once
// A model run as a pipeline over the ranks of a ProcessGroup: rank r holds stage r of
// split_stages(n_layers, W) (model.h) and nothing else. A forward goes rank to rank:
// rank 0 embeds the tokens and runs its blocks, each rank sends the residual stream
// [B, P, D] to the next, and the last sends the logits to rank 0. Rank 0 drives: it
// tells the others what comes next (a new generation, a forward, the end), samples
// (generate() on these steps), and receives the hook points each rank records, so the
// other ranks need neither the sampling nor the export. KV caches stay with their
// stage; interventions apply on the rank that holds their hook point.

#include "bridge/dist/process_group.h"
#include "bridge/model/generate.h"
#include "bridge/model/interventions.h"
#include "bridge/model/model.h"

#include <memory>
#include <string>
#include <vector>

namespace hookscope {

class KvCache;

class Pipeline final : public GenerateSteps {
public:
    // `stage`: this rank's stage of the model; `interventions`: the run's, as every
    // rank reads them (each applies those at its own hook points). Checks that every
    // rank loaded the same checkpoint in the same dtype as rank 0. Throws InputError
    // naming what differs, GroupError.
    Pipeline(ProcessGroup& group, const Model& stage, Interventions interventions);
    ~Pipeline() override;
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Rank 0. run_with_cache over the whole pipeline: the hook points `filter` selects
    // on every rank, in execution order, and the logits [1, P, V]. Throws InputError as
    // Model::run_with_cache does, GroupError.
    ActivationCache run_with_cache(const std::vector<int64_t>& tokens, const NamesFilter& filter);

    // Rank 0: the steps of generate() (generate.h), each a forward through every rank.
    const ModelConfig& config() const override { return stage_.config(); }
    void start(int64_t positions, bool kv_cache) override;
    at::Tensor next_logits(const std::vector<int64_t>& sequence) override;
    ActivationCache recompute(const std::vector<int64_t>& tokens, const NamesFilter& filter,
                              c10::Device device) override;

    // Rank 0: the run is over; every other rank's serve() returns.
    void finish();

    // Every other rank: follows rank 0's requests until finish(). Throws GroupError,
    // or what this stage's forward throws.
    void serve();

private:
    at::Tensor forward(const std::vector<int64_t>& tokens, int64_t start, bool use_past, bool new_run,
                       const NamesFilter* filter, ActivationCache* cache);
    at::Tensor run_stage(const at::Tensor& input, int64_t start, bool use_past, const NamesFilter* filter,
                         ActivationCache* cache);
    void send_request(const std::vector<int64_t>& fields);
    // This rank's state for a new generation: the given interventions afresh, and a KV
    // cache for `positions` when the steps keep one.
    void start_here(int64_t positions, bool kv_cache);

    ProcessGroup& group_;
    const Model& stage_;
    const Interventions given_;
    Interventions interventions_;
    std::unique_ptr<KvCache> past_;
};

} // namespace hookscope
