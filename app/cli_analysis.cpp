// `lens` and `attribute`: the logit lens and direct logit attribution on the
// command line, over one forward pass that captures only the hooks they read.

#include "app/cli.h"
#include "app/cli_common.h"
#include "bridge/analysis/analysis.h"
#include "bridge/core/errors.h"
#include "bridge/model/activation_cache.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace hookscope::cli {
namespace {

using nlohmann::json;

// A token's legible form: the tokenizer's, else its id.
std::string token_text(const std::optional<TextCodec>& codec, int64_t id) {
    return codec ? codec->tokenizer.display(id) : std::to_string(id);
}

// One forward over `tokens` capturing exactly `hooks`.
ActivationCache capture(const Model& model, const std::vector<int64_t>& tokens, const std::vector<std::string>& hooks) {
    return model.run_with_cache(tokens, NamesFilter(exact_names_filter(hooks)));
}

} // namespace

int lens_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json", "--no-prepend-bos"}, {"--model", "--tokens", "--prompt", "--top-k"}),
                          "lens");
    const Precision precision = apply_common(options);
    const int64_t top_k = options.positive_int("--top-k").value_or(5);
    const auto folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const auto model = load_model(folder, precision);
    const ActivationCache cache = capture(*model, input.tokens, lens_hooks(model->config()));
    const std::vector<LensLayer> lens = logit_lens(*model, cache, top_k);
    const auto positions = static_cast<int64_t>(input.tokens.size());

    if (options.flag("--json")) {
        json tokens = json::array();
        for (const int64_t id : input.tokens)
            tokens.push_back(token_text(input.codec, id));
        json layers = json::array();
        for (const LensLayer& layer : lens) {
            json rows = json::array();
            for (int64_t p = 0; p < positions; ++p) {
                json ids = json::array(), texts = json::array(), probs = json::array();
                for (int64_t k = 0; k < top_k; ++k) {
                    const int64_t id = layer.id(p, k);
                    ids.push_back(id);
                    texts.push_back(token_text(input.codec, id));
                    probs.push_back(layer.prob(p, k));
                }
                rows.push_back({{"ids", ids}, {"tokens", texts}, {"probs", probs}});
            }
            layers.push_back({{"hook", layer.hook}, {"positions", rows}});
        }
        std::cout << json{{"tokens", tokens}, {"ids", input.tokens}, {"layers", layers}}.dump() << "\n";
        return kOk;
    }
    std::printf("logit lens over %lld positions: the top %lld tokens each layer's residual stream predicts\n",
                static_cast<long long>(positions), static_cast<long long>(top_k));
    for (const LensLayer& layer : lens) {
        std::printf("\n%s\n", layer.hook.c_str());
        for (int64_t p = 0; p < positions; ++p) {
            std::printf("%5lld  %-16s", static_cast<long long>(p),
                        token_text(input.codec, input.tokens[static_cast<std::size_t>(p)]).c_str());
            for (int64_t k = 0; k < top_k; ++k) {
                std::printf("  %s %.3f", token_text(input.codec, layer.id(p, k)).c_str(), layer.prob(p, k));
            }
            std::printf("\n");
        }
    }
    return kOk;
}

int attribute_command(const std::vector<std::string>& args) {
    const Options options(args,
                          spec({"--json", "--no-prepend-bos"},
                               {"--model", "--tokens", "--prompt", "--position", "--target", "--contrast"}),
                          "attribute");
    const Precision precision = apply_common(options);
    const auto position_option = options.integer("--position");
    const auto target = options.unsigned_int("--target");
    if (!position_option || !target) throw UsageError("`attribute` needs --position P and --target ID");
    const auto contrast = options.unsigned_int("--contrast");
    const auto folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const auto positions = static_cast<int64_t>(input.tokens.size());
    // Negative positions count from the end: -1 is the last.
    const int64_t position = *position_option < 0 ? positions + *position_option : *position_option;
    if (position < 0 || position >= positions) {
        throw InputError("--position " + std::to_string(*position_option) + " is outside the " +
                         std::to_string(positions) + " positions of the input");
    }
    const auto model = load_model(folder, precision);
    const ActivationCache cache = capture(*model, input.tokens, attribution_hooks(model->config()));
    const Attribution a = attribute(*model, cache, position, static_cast<int64_t>(*target),
                                    contrast ? std::optional<int64_t>(static_cast<int64_t>(*contrast)) : std::nullopt);

    if (options.flag("--json")) {
        std::cout << json{{"position", a.position},
                          {"target", a.target},
                          {"contrast", a.contrast ? json(*a.contrast) : json(nullptr)},
                          {"logit", a.logit},
                          {"heads", a.heads},
                          {"mlp", a.mlp},
                          {"embed", a.embed},
                          {"pos_embed", a.pos_embed ? json(*a.pos_embed) : json(nullptr)},
                          {"biases", a.biases},
                          {"constant", a.constant},
                          {"sum", a.sum}}
                         .dump()
                  << "\n";
        return kOk;
    }
    std::string what = "logit of " + token_text(input.codec, a.target);
    if (a.contrast) what += " minus " + token_text(input.codec, *a.contrast);
    std::printf("%s at position %lld (%s): %.4f; the parts below sum to %.4f\n", what.c_str(),
                static_cast<long long>(position),
                token_text(input.codec, input.tokens[static_cast<std::size_t>(position)]).c_str(), a.logit, a.sum);
    std::printf("\nlayer  mlp      heads 0..%zu\n", a.heads.empty() ? 0 : a.heads.front().size() - 1);
    for (std::size_t l = 0; l < a.heads.size(); ++l) {
        std::printf("%5zu  %+7.3f ", l, a.mlp[l]);
        for (const double h : a.heads[l])
            std::printf(" %+7.3f", h);
        std::printf("\n");
    }
    std::printf("\nembed %+.4f", a.embed);
    if (a.pos_embed) std::printf("  pos_embed %+.4f", *a.pos_embed);
    std::printf("  output biases %+.4f  final norm and unembedding constant %+.4f\n", a.biases, a.constant);
    return kOk;
}

} // namespace hookscope::cli
