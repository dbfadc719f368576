// `collect`: an activation dataset from a file of prompts, written as shards of whole
// prompts and a manifest (bridge/io/dataset.h), resumable. One process: world size 1.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/io/dataset.h"
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

// The hook points `filter` selects, refusing the attention matrices: their rows are
// not one per token.
std::vector<std::string> selected_hooks(const Model& model, const NamesFilter& filter) {
    std::vector<std::string> hooks, matrices;
    for (const HookInfo& info : model.hook_points()) {
        if (!filter.matches(info.name)) continue;
        (is_attention_matrix(info.name) ? matrices : hooks).push_back(info.name);
    }
    if (!matrices.empty()) {
        std::string names;
        for (const std::string& name : matrices)
            names += (names.empty() ? "" : ", ") + name;
        throw UsageError("`collect` records per-token hook points only; --names-filter `" + filter.text() +
                         "` selects attention matrices [B, H, P, P]: " + names);
    }
    if (hooks.empty()) throw UsageError("--names-filter `" + filter.text() + "` selects no hook point of this model");
    return hooks;
}

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

// Each prompt's rows, one tensor [P, ...] per hook in `hooks` order. One forward per
// prompt: the same forward run_with_cache makes, so the rows equal it exactly.
// run_with_cache runs to the logits; stopping after the last selected hook point needs
// a way for the model to end early.
std::vector<std::vector<at::Tensor>> batch_rows(const Model& model, const std::vector<std::vector<int64_t>>& batch,
                                                const std::vector<std::string>& hooks) {
    std::vector<std::vector<at::Tensor>> rows;
    for (const std::vector<int64_t>& tokens : batch) {
        const ActivationCache cache = capture_hooks(model, tokens, hooks);
        std::vector<at::Tensor> prompt_rows;
        for (const std::string& name : hooks)
            prompt_rows.push_back(cache[name].select(0, 0));
        rows.push_back(std::move(prompt_rows));
    }
    return rows;
}

std::string duration_text(double seconds) {
    const auto s = static_cast<int64_t>(std::llround(seconds));
    if (s < 60) return std::to_string(s) + " s";
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
}

// Prompts done, tokens/s and time left on stderr, at most about once a second.
class Progress {
public:
    Progress(int64_t prompts, int64_t tokens_left) : prompts_(prompts), tokens_left_(tokens_left) {}
    void done(int64_t prompts_done, int64_t tokens, bool last) {
        tokens_ += tokens;
        const auto now = std::chrono::steady_clock::now();
        if (!last && now - shown_ < std::chrono::seconds(1)) return;
        shown_ = now;
        const double seconds = std::chrono::duration<double>(now - start_).count();
        const double rate = seconds > 0 ? static_cast<double>(tokens_) / seconds : 0;
        std::cerr << "collect: " << prompts_done << "/" << prompts_ << " prompts, " << std::llround(rate)
                  << " tokens/s";
        if (!last && rate > 0) std::cerr << ", about " << duration_text((tokens_left_ - tokens_) / rate) << " left";
        std::cerr << "\n";
    }

private:
    int64_t prompts_, tokens_left_, tokens_ = 0;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), shown_ = start_;
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
    const std::vector<std::string> hooks = selected_hooks(*model, filter);
    const Prompts prompts = tokenized_prompts(*prompts_file, folder, *model, prepend_bos, max_positions);
    const auto prompts_sha = file_sha256(*prompts_file);
    if (!prompts_sha) throw InputError("cannot read the prompts file " + *prompts_file);

    DatasetIdentity identity;
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
    identity.world_size = 1;

    const fs::path dir(*out);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw InputError("cannot create the dataset folder " + dir.string() + ": " + ec.message());

    // Rank 0 of one takes every batch, so its order is the file's.
    const int rank = 0;
    const auto count = static_cast<int64_t>(prompts.tokens.size());
    std::vector<int64_t> order(static_cast<std::size_t>(count));
    std::iota(order.begin(), order.end(), 0);
    DatasetManifest manifest;
    manifest.identity = identity;
    manifest.shards = finished_shards(dir, rank, identity, order);
    int64_t kept = 0;
    for (const ShardRecord& s : manifest.shards)
        kept += s.prompts;
    if (!manifest.shards.empty()) {
        std::cerr << "collect: keeping " << manifest.shards.size() << " finished shard(s) of an earlier run (" << kept
                  << " prompts)\n";
    }
    if (prompts.cut > 0) {
        std::cerr << "collect: " << prompts.cut << " prompt(s) longer than " << max_positions << " positions cut to "
                  << max_positions << "\n";
    }

    int64_t tokens_left = 0;
    for (int64_t p = kept; p < count; ++p)
        tokens_left += static_cast<int64_t>(prompts.tokens[p].size());
    Progress progress(count, tokens_left);
    ShardWriter writer(dir, rank, identity, hooks, shard_bytes, static_cast<int>(manifest.shards.size()));
    for (int64_t first = 0; first < count; first += batch_prompts) {
        const int64_t end = std::min(count, first + batch_prompts);
        if (end <= kept) continue;
        // The whole batch is computed even when a kept shard ends inside it: its rows are
        // then those of the run that wrote the shard, whatever a batched forward groups.
        const std::vector<std::vector<int64_t>> batch(prompts.tokens.begin() + first, prompts.tokens.begin() + end);
        std::vector<std::vector<at::Tensor>> rows;
        try {
            rows = batch_rows(*model, batch, hooks);
        } catch (const Error& e) {
            throw InputError("the batch of prompts " + std::to_string(first) + " to " + std::to_string(end - 1) +
                             " (from " + prompt_where(*prompts_file, prompts.lines[first]) + "): " + e.what());
        }
        int64_t tokens = 0;
        for (int64_t p = std::max(first, kept); p < end; ++p) {
            tokens += static_cast<int64_t>(batch[p - first].size());
            if (auto shard = writer.add(p, batch[p - first], rows[p - first])) manifest.shards.push_back(*shard);
        }
        progress.done(end, tokens, end == count);
    }
    if (auto shard = writer.finish()) manifest.shards.push_back(*shard);

    json hook_points = json::array();
    for (const std::string& name : hooks) {
        const HookInfo& info = *std::find_if(model->hook_points().begin(), model->hook_points().end(),
                                             [&](const HookInfo& h) { return h.name == name; });
        json shape = shape_json(info);
        shape.erase(shape.begin()); // the batch axis; "pos" becomes the row axis T
        shape[0] = "T";
        hook_points.push_back({{"name", name}, {"shape", shape}});
    }
    manifest.hook_points = hook_points;
    manifest.prompts = count;
    manifest.cut_prompts = prompts.cut;
    for (const ShardRecord& s : manifest.shards)
        manifest.tokens += s.tokens;
    write_manifest(dir, manifest);
    std::cout << "collected " << count << " prompts (" << manifest.tokens << " tokens) at " << hooks.size()
              << " hook points into " << manifest.shards.size() << " shard(s) in " << dir.string() << "\n";
    return kOk;
}

} // namespace hookscope::cli
