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
    // computes) and the recompute.
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

// The settings of a generation as a JSON object (exports record it in `generation`).
std::string generation_settings_json(const GenerateOptions& options, const std::optional<uint64_t>& seed);

// Generates after `prompt` (token ids, BOS already there if wanted). `tokenizer` (may be
// null) decodes pieces and finds stop strings. Throws InputError for an empty prompt,
// one longer than the context, ids outside the vocabulary or settings out of range.
GenerateResult generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const Tokenizer* tokenizer = nullptr);

// The same for a prompt given as a tensor, with TransformerBridge's guards: one
// sequence of token ids [P] or [1, P]; batches and embeddings are refused.
GenerateResult generate(const Model& model, const at::Tensor& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const Tokenizer* tokenizer = nullptr);

} // namespace hookscope
