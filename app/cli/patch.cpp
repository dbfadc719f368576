// `patch`: an activation patching sweep from a clean prompt into a corrupted one.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"

#include "bridge/analysis/patching.h"
#include "bridge/core/errors.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace hookscope::cli {
namespace {

using nlohmann::json;

std::vector<PatchSite> sites_option(const Options& options) {
    const auto text = options.value("--sites");
    if (!text) return {std::begin(kPatchSites), std::end(kPatchSites)};
    std::vector<PatchSite> sites;
    std::stringstream items(*text);
    for (std::string item; std::getline(items, item, ',');) {
        const auto site = parse_patch_site(item);
        if (!site) {
            throw UsageError("--sites: unknown site `" + item + "` (expected resid_pre, attn_out, mlp_out, head_out)");
        }
        if (std::find(sites.begin(), sites.end(), *site) == sites.end()) sites.push_back(*site);
    }
    if (sites.empty()) throw UsageError("--sites names no site");
    return sites;
}

// --NAME ID or --NAME-text TEXT (one token); nullopt when neither is given.
std::optional<int64_t> token_option(const Options& options, const std::string& name,
                                    const std::optional<TextCodec>& codec) {
    const auto id = options.unsigned_int("--" + name);
    const auto text = options.value("--" + name + "-text");
    if (id && text) throw UsageError("give either --" + name + " or --" + name + "-text, not both");
    if (id) return static_cast<int64_t>(*id);
    if (!text) return std::nullopt;
    if (!codec) throw UsageError("--" + name + "-text needs the model's tokenizer; give --" + name + " ID");
    const std::vector<int64_t> ids = codec->tokenizer.encode(*text);
    if (ids.size() != 1) {
        throw InputError("--" + name + "-text `" + *text + "` is " + std::to_string(ids.size()) +
                         " tokens, not one; give --" + name + " ID");
    }
    return ids.front();
}

json grid_json(const at::Tensor& grid) {
    json rows = json::array();
    const at::Tensor g = grid.to(at::kDouble).contiguous();
    for (int64_t r = 0; r < g.size(0); ++r) {
        json row = json::array();
        for (int64_t c = 0; c < g.size(1); ++c)
            row.push_back(g[r][c].item<double>());
        rows.push_back(row);
    }
    return rows;
}

} // namespace

OptionSpec patch_options() {
    return spec({"--json", "--no-prepend-bos"},
                {"--model", "--clean", "--clean-tokens", "--corrupted", "--corrupted-tokens", "--answer",
                 "--answer-text", "--wrong", "--wrong-text", "--sites"},
                0, {"--intervene"});
}

int patch_command(const Options& options) {
    const Precision precision = apply_common(options);
    const auto folder = model_folder(options);
    const PromptInput clean = prompt_input(options, folder, "--clean", "--clean-tokens");
    const PromptInput corrupted = prompt_input(options, folder, "--corrupted", "--corrupted-tokens");
    const std::optional<TextCodec>& codec = clean.codec ? clean.codec : corrupted.codec;
    PatchingRequest request;
    request.clean = clean.tokens;
    request.corrupted = corrupted.tokens;
    request.answer = token_option(options, "answer", codec);
    request.wrong = token_option(options, "wrong", codec);
    request.sites = sites_option(options);
    check_patching_prompts(request); // before the model loads
    const auto model = load_model(folder, precision);
    const auto positions = static_cast<int64_t>(clean.tokens.size());
    request.interventions = intervention_options(options, *model, positions, positions);
    const PatchingResult result = *patching_sweep(*model, request);

    if (options.flag("--json")) {
        json sites = json::object(), normalized = json::object();
        for (const PatchingGrid& grid : result.grids) {
            const std::string name(patch_site_name(grid.site));
            sites[name] = grid_json(grid.logit_diff);
            const auto norm = result.normalized(grid);
            normalized[name] = norm ? grid_json(*norm) : json(nullptr);
        }
        json out{{"clean_logit_diff", result.clean_logit_diff},
                 {"corrupted_logit_diff", result.corrupted_logit_diff},
                 {"answer", result.answer},
                 {"wrong", result.wrong},
                 {"layers", model->config().n_layers},
                 {"positions", positions},
                 {"heads", model->config().n_heads},
                 {"clean_tokens", clean.tokens},
                 {"corrupted_tokens", corrupted.tokens},
                 {"sites", sites},
                 {"normalized", normalized}};
        if (!request.interventions.empty()) out["interventions"] = request.interventions.texts();
        std::cout << out.dump() << "\n";
        return kOk;
    }
    std::printf("logit difference %s - %s: clean %.4f, corrupted %.4f\n", token_text(codec, result.answer).c_str(),
                token_text(codec, result.wrong).c_str(), result.clean_logit_diff, result.corrupted_logit_diff);
    for (const PatchingGrid& grid : result.grids) {
        const auto norm = result.normalized(grid);
        const at::Tensor shown = norm ? *norm : grid.logit_diff;
        std::printf("\n%s (%s; rows: layers, columns: %s)\n", std::string(patch_site_name(grid.site)).c_str(),
                    norm ? "normalized: 1 restores the clean run, 0 changes nothing" : "logit difference",
                    grid.site == PatchSite::HeadOut ? "heads" : "positions");
        for (int64_t l = 0; l < shown.size(0); ++l) {
            std::printf("%5lld ", static_cast<long long>(l));
            for (int64_t c = 0; c < shown.size(1); ++c) {
                const double value = shown[l][c].item<double>();
                std::printf(" %+6.2f", std::abs(value) < 0.005 ? 0.0 : value); // never "-0.00"
            }
            std::printf("\n");
        }
    }
    return kOk;
}

} // namespace hookscope::cli
