#pragma once
// generate() with TransformerBridge's return_cache semantics: KV-cached decoding that
// streams token by token, then one clean forward over prompt + generated tokens that
// records the hook points the names filter selects, equal to run_with_cache(output).

#include "bridge/core/names_filter.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/interventions.h"
#include "bridge/model/model.h"
#include "bridge/model/sampling.h"
#include "bridge/text/tokenizer.h"

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

struct GenerateOptions {
    int64_t max_new_tokens = 10;
    bool stop_at_eos = true;
    std::vector<int64_t> eos_ids;          // pass the model's (SpecialTokens::eos); empty: no EOS stop
    std::vector<std::string> stop_strings; // stop once the new text contains one (needs a tokenizer)
    SamplingSettings sampling;
    std::optional<uint64_t> seed; // none: one is drawn and reported
    bool use_kv_cache = true;
    bool return_cache = false;
    NamesFilter names_filter; // for the returned cache
    c10::Device cache_device = c10::kCPU;
    // Applied at every forward: the prompt pass, each decode step (to the positions it
    // computes) and the recompute. Read by generate() on a Model (ModelSteps); other
    // GenerateSteps hold their own.
    Interventions interventions;
};

enum class StopReason { MaxNewTokens, Eos, StopString, ContextFull, Cancelled };
// As generate --json and exports write it: "max_new_tokens", "eos", "stop_string", "context_full", "cancelled".
const char* stop_reason_name(StopReason reason);

struct NewToken {
    int64_t id = 0;
    double logprob = 0;
    std::vector<std::pair<int64_t, double>> top; // 5 most likely, with logprobs
};

// Streamed to the caller once per new token, on the generating thread.
struct TokenEvent {
    int64_t id = 0;
    std::string piece; // new text that became complete with this token ("" without a tokenizer)
    int64_t step = 0;  // 0 for the first new token
    double elapsed_s = 0;
    double logprob = 0;
    // Set on one last event after the final token, carrying text that waited for a
    // character to complete; it is not a new token.
    bool final_flush = false;
};

struct GenerateCallbacks {
    std::function<void(const TokenEvent&)> on_token;
    std::function<bool()> cancelled;    // polled before every step
    std::function<void()> on_recompute; // the recompute forward (return_cache) starts
};

struct GenerateResult {
    std::vector<int64_t> tokens; // prompt then new tokens
    int64_t prompt_length = 0;
    std::vector<NewToken> generated;
    std::string text; // the new tokens decoded ("" without a tokenizer)
    StopReason stop_reason = StopReason::MaxNewTokens;
    std::optional<uint64_t> seed; // the seed used when sampling
    double prompt_s = 0, decode_s = 0, recompute_s = 0;
    std::optional<double> tokens_per_second; // new tokens after the first / their time
    std::optional<ActivationCache> cache;    // with return_cache
};

// The forwards a generation runs, whoever computes them: one model in this process
// (ModelSteps), or the stages of a pipeline over several (bridge/dist/pipeline.h).
// generate() samples, stops and streams; the steps only turn tokens into logits.
class GenerateSteps {
public:
    virtual ~GenerateSteps() = default;
    virtual const ModelConfig& config() const = 0;
    // A new generation of up to `positions` positions: an empty KV cache of that size
    // when `kv_cache`, and the interventions' means taken afresh by the next forward.
    virtual void start(int64_t positions, bool kv_cache) = 0;
    // The logits [V] after the last of `sequence` (the prompt and the tokens chosen so
    // far): with the KV cache, a forward over the tokens not yet in it; without, over
    // the whole sequence.
    virtual at::Tensor next_logits(const std::vector<int64_t>& sequence) = 0;
    // run_with_cache over `tokens` with the interventions, their means taken afresh.
    virtual ActivationCache recompute(const std::vector<int64_t>& tokens, const NamesFilter& filter,
                                      c10::Device device) = 0;
};

// The steps on one model, with `interventions` (a copy per generation).
class ModelSteps final : public GenerateSteps {
public:
    ModelSteps(const Model& model, const Interventions& interventions);
    ~ModelSteps() override;
    const ModelConfig& config() const override { return model_.config(); }
    void start(int64_t positions, bool kv_cache) override;
    at::Tensor next_logits(const std::vector<int64_t>& sequence) override;
    ActivationCache recompute(const std::vector<int64_t>& tokens, const NamesFilter& filter,
                              c10::Device device) override;

private:
    Interventions* changes() { return interventions_.empty() ? nullptr : &interventions_; }

    const Model& model_;
    Interventions given_;
    Interventions interventions_;
    std::unique_ptr<KvCache> past_;
};

// The settings of a generation as a JSON object (exports record it in `generation`).
std::string generation_settings_json(const GenerateOptions& options, const std::optional<uint64_t>& seed);

// Generates after `prompt` (token ids, BOS already there if wanted). `tokenizer` (may be
// null) decodes pieces and finds stop strings. Throws InputError for an empty prompt,
// one longer than the context, ids outside the vocabulary or settings out of range.
GenerateResult generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const Tokenizer* tokenizer = nullptr);
// The same through `steps` (options.interventions unused: the steps hold theirs).
GenerateResult generate(GenerateSteps& steps, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const Tokenizer* tokenizer = nullptr);

// The same for a prompt given as a tensor, with TransformerBridge's guards: one
// sequence of token ids [P] or [1, P]; batches and embeddings are refused.
GenerateResult generate(const Model& model, const at::Tensor& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const Tokenizer* tokenizer = nullptr);

} // namespace hookscope
