// `heads`: the previous-token, duplicate-token and induction score of every head.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/head_scores.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec heads_options() {
    return spec({"--json"}, {"--model"});
}

int heads_command(const Options& options) {
    const Precision precision = apply_common(options);
    const auto model = load_model(model_folder(options), precision);
    const HeadScores s = head_scores(*model);
    if (options.flag("--json")) {
        std::cout << json{{"sequence_length", s.sequence_length},
                          {"sequences", s.sequences},
                          {"previous_token", s.previous_token},
                          {"duplicate_token", s.duplicate_token},
                          {"induction", s.induction}}
                         .dump()
                  << "\n";
        return kOk;
    }
    std::printf("head scores over %lld sequences of %lld random tokens repeated\n", static_cast<long long>(s.sequences),
                static_cast<long long>(s.sequence_length));
    std::printf("layer  head  previous  duplicate  induction\n");
    for (std::size_t l = 0; l < s.induction.size(); ++l) {
        for (std::size_t h = 0; h < s.induction[l].size(); ++h) {
            std::printf("%5zu  %4zu  %8.3f  %9.3f  %9.3f\n", l, h, s.previous_token[l][h], s.duplicate_token[l][h],
                        s.induction[l][h]);
        }
    }
    return kOk;
}

} // namespace hookscope::cli
