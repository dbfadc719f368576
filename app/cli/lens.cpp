// `lens`: the logit lens, over one forward pass that captures only the hooks it reads.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/analysis.h"
#include "bridge/analysis/run_analysis.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec lens_options() {
    return spec({"--json", "--no-prepend-bos"}, {"--model", "--tokens", "--prompt", "--top-k"}, 0, {"--intervene"});
}

int lens_command(const Options& options) {
    const Precision precision = apply_common(options);
    const int64_t top_k = options.positive_int("--top-k").value_or(5);
    const auto folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const auto model = load_model(folder, precision);
    const auto positions = static_cast<int64_t>(input.tokens.size());
    Interventions interventions = intervention_options(options, *model, positions, positions);
    const std::vector<LensLayer> lens = lens_run(*model, input.tokens, top_k, {}, &interventions);

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

} // namespace hookscope::cli
