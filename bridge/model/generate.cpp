#include "bridge/model/generate.h"

#include "bridge/core/cache_budget.h"
#include "bridge/core/errors.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/kv_cache.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace hookscope {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Text of the new tokens as it becomes complete: a trailing U+FFFD may be the first
// bytes of a character the next token finishes, so it waits.
class TextStream {
public:
    explicit TextStream(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}

    std::string push(int64_t id) {
        ids_.push_back(id);
        if (!tokenizer_) return {};
        text_ = tokenizer_->decode(ids_);
        static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
        if (text_.size() >= kReplacement.size() && text_.compare(text_.size() - 3, 3, kReplacement) == 0) return {};
        return flush();
    }
    std::string flush() {
        if (text_.size() <= emitted_) return {};
        std::string piece = text_.substr(emitted_);
        emitted_ = text_.size();
        return piece;
    }
    const std::string& text() const { return text_; }

private:
    const Tokenizer* tokenizer_;
    std::vector<int64_t> ids_;
    std::string text_;
    std::size_t emitted_ = 0;
};

} // namespace

const char* stop_reason_name(StopReason reason) {
    switch (reason) {
    case StopReason::MaxNewTokens: return "max_new_tokens";
    case StopReason::Eos: return "eos";
    case StopReason::StopString: return "stop_string";
    case StopReason::ContextFull: return "context_full";
    case StopReason::Cancelled: return "cancelled";
    }
    return "unknown";
}

ModelSteps::ModelSteps(const Model& model, const Interventions& interventions) : model_(model), given_(interventions) {}

ModelSteps::~ModelSteps() = default;

void ModelSteps::start(int64_t positions, bool kv_cache) {
    // A copy per run: the means the prompt pass takes are held for the decode steps.
    interventions_ = given_;
    interventions_.start_run();
    past_ = kv_cache ? model_.new_kv_cache(positions) : nullptr;
}

at::Tensor ModelSteps::next_logits(const std::vector<int64_t>& sequence) {
    if (!past_) return model_.forward(sequence, changes())[0][-1];
    const std::vector<int64_t> fresh(sequence.begin() + past_->length(), sequence.end());
    return model_.decode(fresh, *past_, changes());
}

ActivationCache ModelSteps::recompute(const std::vector<int64_t>& tokens, const NamesFilter& filter,
                                      c10::Device device) {
    // A run over the output: exactly what run_with_cache with these interventions
    // gives (its means taken afresh from the same positions).
    return model_.run_with_cache(tokens, filter, device, changes());
}

GenerateResult generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks, const Tokenizer* tokenizer) {
    ModelSteps steps(model, options.interventions);
    return generate(steps, prompt, options, callbacks, tokenizer);
}

GenerateResult generate(GenerateSteps& steps, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks, const Tokenizer* tokenizer) {
    const int64_t n_ctx = steps.config().n_ctx;
    if (prompt.empty()) throw InputError("the prompt is empty: give at least one token (BOS, for example)");
    if (static_cast<int64_t>(prompt.size()) > n_ctx) {
        throw InputError("the prompt has " + std::to_string(prompt.size()) +
                         " tokens, more than the model's context of " + std::to_string(n_ctx));
    }
    check_token_ids(prompt, steps.config().d_vocab);
    if (options.max_new_tokens < 0) throw InputError("max_new_tokens must be 0 or more");
    check_sampling(options.sampling);
    if (!options.stop_strings.empty() && !tokenizer) {
        throw InputError("stop strings need the model's tokenizer to read the generated text, and there is none");
    }
    for (const std::string& stop : options.stop_strings) {
        if (stop.empty()) throw InputError("a stop string is empty: it would stop generation at once");
    }
    if (options.seed && *options.seed > UINT32_MAX) {
        throw InputError("the seed " + std::to_string(*options.seed) + " is too large: seeds are 0 to " +
                         std::to_string(UINT32_MAX));
    }

    GenerateResult result;
    result.tokens = prompt;
    result.prompt_length = static_cast<int64_t>(prompt.size());
    const bool sampling = options.sampling.do_sample && options.sampling.temperature != 0.0;
    uint64_t seed = 0;
    if (sampling) {
        // LibTorch's generator takes 32 bits of its seed; drawn seeds have only those.
        seed = options.seed ? *options.seed : static_cast<uint64_t>(std::random_device{}());
        result.seed = seed;
    }
    at::Generator generator = at::detail::createCPUGenerator(seed);

    steps.start(planned_positions(result.prompt_length, options.max_new_tokens, n_ctx), options.use_kv_cache);
    TextStream stream(tokenizer);
    const auto start = Clock::now();
    Clock::time_point decode_start = start;
    result.stop_reason = StopReason::MaxNewTokens;
    for (int64_t step = 0; step < options.max_new_tokens; ++step) {
        if (callbacks.cancelled && callbacks.cancelled()) {
            result.stop_reason = StopReason::Cancelled;
            break;
        }
        if (static_cast<int64_t>(result.tokens.size()) >= n_ctx) {
            result.stop_reason = StopReason::ContextFull;
            break;
        }
        const at::Tensor logits = steps.next_logits(result.tokens);
        const TokenChoice choice = choose_token(logits, result.tokens, options.sampling, generator);
        result.tokens.push_back(choice.id);
        result.generated.push_back({choice.id, choice.logprob, choice.top});
        if (step == 0) {
            result.prompt_s = seconds_since(start);
            decode_start = Clock::now();
        }
        if (callbacks.on_token) {
            callbacks.on_token({choice.id, stream.push(choice.id), step, seconds_since(start), choice.logprob});
        } else {
            stream.push(choice.id);
        }
        const auto& eos = options.eos_ids;
        if (options.stop_at_eos && std::find(eos.begin(), eos.end(), choice.id) != eos.end()) {
            result.stop_reason = StopReason::Eos;
            break;
        }
        const bool stop_string =
            std::any_of(options.stop_strings.begin(), options.stop_strings.end(),
                        [&](const std::string& s) { return stream.text().find(s) != std::string::npos; });
        if (stop_string) {
            result.stop_reason = StopReason::StopString;
            break;
        }
    }
    if (result.generated.size() >= 2) {
        result.decode_s = seconds_since(decode_start);
        result.tokens_per_second = static_cast<double>(result.generated.size() - 1) / result.decode_s;
    }
    if (callbacks.on_token && !result.generated.empty()) {
        // Whatever waited for a character to complete ends the stream.
        if (std::string rest = stream.flush(); !rest.empty()) {
            const NewToken& last = result.generated.back();
            callbacks.on_token({last.id, rest, static_cast<int64_t>(result.generated.size()) - 1, seconds_since(start),
                                last.logprob,
                                /*final_flush=*/true});
        }
    }
    result.text = stream.text();

    if (options.return_cache) {
        if (callbacks.on_recompute) callbacks.on_recompute();
        const auto recompute_start = Clock::now();
        result.cache = steps.recompute(result.tokens, options.names_filter, options.cache_device);
        result.recompute_s = seconds_since(recompute_start);
    }
    return result;
}

std::string generation_settings_json(const GenerateOptions& o, const std::optional<uint64_t>& seed) {
    using nlohmann::json;
    const SamplingSettings& s = o.sampling;
    return json{{"mode", "generate"},
                {"max_new_tokens", o.max_new_tokens},
                {"do_sample", s.do_sample},
                {"temperature", s.temperature},
                {"top_k", s.top_k ? json(*s.top_k) : json(nullptr)},
                {"top_p", s.top_p ? json(*s.top_p) : json(nullptr)},
                {"repetition_penalty", s.repetition_penalty},
                {"freq_penalty", s.freq_penalty},
                {"seed", seed ? json(*seed) : json(nullptr)},
                {"stop_strings", o.stop_strings},
                {"eos_token_ids", o.eos_ids},
                {"use_kv_cache", o.use_kv_cache}}
        .dump();
}

GenerateResult generate(const Model& model, const at::Tensor& prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks, const Tokenizer* tokenizer) {
    if (at::isFloatingType(prompt.scalar_type())) {
        throw InputError("generate takes token ids, not embeddings; to look at embedding inputs, run the model "
                         "with run_with_cache over each sequence");
    }
    if (prompt.dim() > 2 || (prompt.dim() == 2 && prompt.size(0) != 1)) {
        throw InputError("generate takes one sequence, not a batch of " + std::to_string(prompt.size(0)) +
                         "; generate (or run_with_cache) over each sequence in turn");
    }
    const at::Tensor ids = prompt.reshape({-1}).to(at::kLong).contiguous();
    return generate(model, std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel()),
                    options, callbacks, tokenizer);
}

} // namespace hookscope
