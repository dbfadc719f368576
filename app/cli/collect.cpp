// `collect`: an activation dataset from a file of prompts, written as shards of whole
// prompts and a manifest (bridge/io/dataset.h), resumable. One process: world size 1.

#include "bridge/io/collect.h"
#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/io/dataset_prompts.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>

namespace hookscope::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kDefaultShardBytes = 1'000'000'000; // 1G, decimal as --cache-limit
constexpr int kDefaultBatchPrompts = 8;

struct Prompts {
    std::vector<std::vector<int64_t>> tokens; // as fed, cut to --max-positions
    std::vector<int> lines;                   // each prompt's line in the file
    int64_t cut = 0;                          // prompts longer than --max-positions
};

// Every prompt of the file as token ids, checked against the model, cut to `max_positions`.
Prompts tokenized_prompts(const fs::path& file, const fs::path& folder, const Model& model, bool prepend_bos,
                          int64_t max_positions) {
    const std::vector<PromptLine> lines = read_prompt_file(file);
    std::optional<TextCodec> codec;
    Prompts prompts;
    for (const PromptLine& line : lines) {
        const std::string where = prompt_where(file, line.line);
        std::vector<int64_t> ids = line.tokens;
        if (line.text) {
            if (!codec) codec = load_text_codec(folder);
            try {
                ids = encode_prompt(codec->tokenizer, codec->special, *line.text, prepend_bos);
            } catch (const Error& e) {
                throw InputError(where + ": " + e.what());
            }
        }
        for (const int64_t id : ids) {
            if (id >= model.config().d_vocab) {
                throw InputError(where + ": token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                 std::to_string(model.config().d_vocab - 1) + ")");
            }
        }
        if (static_cast<int64_t>(ids.size()) > max_positions) {
            ids.resize(static_cast<std::size_t>(max_positions));
            ++prompts.cut;
        }
        prompts.tokens.push_back(std::move(ids));
        prompts.lines.push_back(line.line);
    }
    return prompts;
}

std::string duration_text(double seconds) {
    const auto s = static_cast<int64_t>(std::llround(seconds));
    if (s < 60) return std::to_string(s) + " s";
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
}

// Prompts done, tokens/s and time left on stderr, at most about once a second.
class Progress {
public:
    void show(const CollectProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool last = p.prompts_done == p.prompts;
        if (!last && now - shown_ < std::chrono::seconds(1)) return;
        shown_ = now;
        const double rate = p.seconds > 0 ? static_cast<double>(p.tokens_done) / p.seconds : 0;
        std::cerr << "collect: " << p.prompts_done << "/" << p.prompts << " prompts, " << std::llround(rate)
                  << " tokens/s";
        if (!last && rate > 0) std::cerr << ", about " << duration_text((p.tokens - p.tokens_done) / rate) << " left";
        std::cerr << "\n";
    }

private:
    std::chrono::steady_clock::time_point shown_ = std::chrono::steady_clock::now();
};

} // namespace

OptionSpec collect_options() {
    return spec({"--no-prepend-bos"}, {"--model", "--prompts", "--names-filter", "--out", "--max-positions",
                                       "--shard-size", "--batch-prompts"});
}

int collect_command(const Options& options) {
    const Precision precision = apply_common(options);
    const auto prompts_file = options.value("--prompts");
    const auto out = options.value("--out");
    const auto filter_text = options.value("--names-filter");
    if (!prompts_file || !out || !filter_text)
        throw UsageError("`collect` needs --prompts FILE, --names-filter F and --out DIR");
    uint64_t shard_bytes = kDefaultShardBytes;
    if (const auto size = options.value("--shard-size")) {
        const auto bytes = parse_byte_size(*size);
        if (!bytes || *bytes == 0)
            throw UsageError("--shard-size needs a size such as 500M or 1G, got `" + *size + "`");
        shard_bytes = *bytes;
    }
    const int batch_prompts = options.positive_int("--batch-prompts").value_or(kDefaultBatchPrompts);
    const bool prepend_bos = !options.flag("--no-prepend-bos");

    const fs::path folder = model_folder(options);
    const auto model = load_model(folder, precision);
    const int64_t context = model->config().n_ctx;
    const int64_t max_positions = options.positive_int("--max-positions").value_or(context);
    if (max_positions > context) {
        throw UsageError("--max-positions " + std::to_string(max_positions) + " passes the model's context of " +
                         std::to_string(context) + " positions");
    }
    const NamesFilter filter(*filter_text);
    std::vector<std::string> hooks;
    try {
        hooks = dataset_hooks(*model, filter);
    } catch (const FilterError& e) {
        throw UsageError(std::string("--names-filter: ") + e.what());
    }
    Prompts prompts = tokenized_prompts(*prompts_file, folder, *model, prepend_bos, max_positions);
    const auto prompts_sha = file_sha256(*prompts_file);
    if (!prompts_sha) throw InputError("cannot read the prompts file " + *prompts_file);

    CollectRequest request;
    request.folder = *out;
    DatasetIdentity& identity = request.identity;
    identity.model = options.value("--model").value_or(folder.string());
    identity.model_fingerprint = model->fingerprint();
    identity.names_filter = filter.text();
    identity.options = {{"max_positions", max_positions},
                        {"shard_size", shard_bytes},
                        {"batch_prompts", batch_prompts},
                        {"prepend_bos", prepend_bos},
                        {"dtype", precision_name(precision)}};
    identity.prompts_file = fs::path(*prompts_file).filename().string();
    identity.prompts_sha256 = *prompts_sha;
    request.hooks = hooks;
    request.prompts = std::move(prompts.tokens);
    for (const int line : prompts.lines)
        request.prompt_places.push_back(prompt_where(*prompts_file, line));
    request.cut_prompts = prompts.cut;
    request.shard_bytes = shard_bytes;
    request.batch_prompts = batch_prompts;

    if (prompts.cut > 0) {
        std::cerr << "collect: " << prompts.cut << " prompt(s) longer than " << max_positions << " positions cut to "
                  << max_positions << "\n";
    }
    Progress progress;
    CollectCallbacks callbacks;
    callbacks.progress = [&](const CollectProgress& p) {
        if (p.tokens_done == 0 && p.kept_shards > 0) {
            std::cerr << "collect: keeping " << p.kept_shards << " finished shard(s) of an earlier run ("
                      << p.prompts_done << " prompts)\n";
        }
        progress.show(p);
    };
    const DatasetManifest manifest = *collect_dataset(*model, std::move(request), callbacks);
    std::cout << "collected " << manifest.prompts << " prompts (" << manifest.tokens << " tokens) at " << hooks.size()
              << " hook points into " << manifest.shards.size() << " shard(s) in " << *out << "\n";
    return kOk;
}

} // namespace hookscope::cli
