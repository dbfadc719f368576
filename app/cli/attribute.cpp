// `attribute`: direct logit attribution, over one forward pass that captures only the
// hooks it reads.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/analysis.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/core/errors.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec attribute_options() {
    return spec({"--json", "--no-prepend-bos"},
                {"--model", "--tokens", "--prompt", "--position", "--target", "--contrast"}, 0, {"--intervene"});
}

int attribute_command(const Options& options) {
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
    Interventions interventions = intervention_options(options, *model, positions, positions);
    const RunAttribution run = attribute_run(
        *model, input.tokens, position, static_cast<int64_t>(*target),
        contrast ? std::optional<int64_t>(static_cast<int64_t>(*contrast)) : std::nullopt, &interventions);
    const Attribution& a = run.attribution;
    const std::optional<double>& intervened = run.interventions;

    if (options.flag("--json")) {
        json out{{"position", a.position},
                 {"target", a.target},
                 {"contrast", a.contrast ? json(*a.contrast) : json(nullptr)},
                 {"logit", a.logit},
                 {"heads", a.heads},
                 {"mlp", a.mlp},
                 {"embed", a.embed},
                 {"pos_embed", a.pos_embed ? json(*a.pos_embed) : json(nullptr)},
                 {"biases", a.biases},
                 {"constant", a.constant},
                 {"sum", a.sum}};
        if (intervened) out["interventions"] = *intervened;
        std::cout << out.dump() << "\n";
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
    if (intervened) std::printf("interventions (directly into the residual stream) %+.4f\n", *intervened);
    return kOk;
}

} // namespace hookscope::cli
