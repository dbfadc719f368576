// `collect`: an activation dataset from a file of prompts, written as shards of whole
// prompts and a manifest (bridge/io/dataset.h), resumable. One process, or one rank of
// a run over several (bridge/dist), configured as torchrun configures a process.

#include "bridge/io/collect.h"
#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/dist/dataset_group.h"
#include "bridge/dist/launch_config.h"
#include "bridge/dist/process_group.h"
#include "bridge/io/dataset_tokens.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

namespace hookscope::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kDefaultShardBytes = 1'000'000'000; // 1G, decimal as --cache-limit
constexpr int kDefaultBatchPrompts = 8;

std::string duration_text(double seconds) {
    const auto s = static_cast<int64_t>(std::llround(seconds));
    if (s < 60) return std::to_string(s) + " s";
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
}

// Prompts done, tokens/s and time left on stderr, at most about once a second.
// `prefix` names the rank in a run over several processes.
class Progress {
public:
    explicit Progress(std::string prefix) : prefix_(std::move(prefix)) {}

    void show(const CollectProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool last = p.prompts_done == p.prompts;
        if (!last && now - shown_ < std::chrono::seconds(1)) return;
        shown_ = now;
        const double rate = p.seconds > 0 ? static_cast<double>(p.tokens_done) / p.seconds : 0;
        std::cerr << "collect: " << prefix_ << p.prompts_done << "/" << p.prompts << " prompts, " << std::llround(rate)
                  << " tokens/s";
        if (!last && rate > 0) std::cerr << ", about " << duration_text((p.tokens - p.tokens_done) / rate) << " left";
        std::cerr << "\n";
    }

private:
    std::string prefix_;
    std::chrono::steady_clock::time_point shown_ = std::chrono::steady_clock::now();
};

int collect_in_group(const Options& options, Precision precision, ProcessGroup* group);

// A rank stops between batches, and one batch of a large model may take minutes:
// once the run has failed, the command gets a few seconds (at most the timeout) to
// stop, time enough for every rank to read the failure from rank 0's store, and then
// the process ends, naming what stopped the run. Nothing is lost: a shard is written
// whole or not at all, and a stopped run writes no manifest.
class StopDeadline {
public:
    explicit StopDeadline(const ProcessGroup& group) : thread_([this, &group] { watch(group); }) {}
    ~StopDeadline() {
        {
            const std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

private:
    void watch(const ProcessGroup& group) {
        const auto poll = std::chrono::milliseconds(200);
        std::unique_lock lock(mutex_);
        std::optional<std::string> failure;
        while (!(failure = group.failure())) {
            if (wake_.wait_for(lock, poll, [&] { return done_; })) return;
        }
        const auto grace = std::min<std::chrono::milliseconds>(group.config().timeout, std::chrono::seconds(5));
        if (wake_.wait_for(lock, grace, [&] { return done_; })) return;
        std::cerr << "hookscope: rank " << group.rank() << " stopped during a batch: " << *failure << "\n";
        std::_Exit(kRunError);
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_;
};

// What every rank of one dataset must run with alike (the model path may differ
// between machines; its fingerprint may not), as "--flag" or a name, and its value.
std::map<std::string, json> shared_settings(const DatasetIdentity& identity) {
    std::map<std::string, json> settings{{"the model (fingerprint)", identity.model_fingerprint},
                                         {"--names-filter", identity.names_filter},
                                         {"the prompts file's name", identity.prompts_file},
                                         {"the prompts file's contents (SHA-256)", identity.prompts_sha256}};
    for (const auto& [key, value] : identity.options.items()) {
        std::string flag = "--" + key;
        std::replace(flag.begin(), flag.end(), '_', '-');
        settings[flag] = value;
    }
    return settings;
}

// Refuses to compute a rank's share of a dataset that rank 0 computes with other
// settings, naming the first that differs.
void require_settings_of_first(ProcessGroup& group, const DatasetIdentity& identity) {
    const json mine(shared_settings(identity));
    const json first = json::parse(group.value_of_first("collect/settings", mine.dump()), nullptr, false);
    for (const auto& [name, value] : mine.items()) {
        if (!first.contains(name) || first[name] != value) {
            throw InputError("settings differ from rank 0's: " + name + " is " + value.dump() + " here, " +
                             (first.contains(name) ? first[name].dump() : "not set") + " on rank 0");
        }
    }
}

} // namespace

OptionSpec collect_options() {
    return spec({"--no-prepend-bos"},
                {"--model", "--prompts", "--names-filter", "--out", "--max-positions", "--shard-size",
                 "--batch-prompts", "--world-size", "--rank", "--master", "--dist-timeout"});
}

int collect_command(const Options& options) {
    const Precision precision = apply_common(options);
    const LaunchConfig launch = launch_options(options);
    if (!launch.distributed()) return collect_in_group(options, precision, nullptr);
    return run_as_rank(options, launch, "collect", [&](ProcessGroup& group) {
        const StopDeadline deadline(group);
        return collect_in_group(options, precision, &group);
    });
}

namespace {

// The command on this process: alone (`group` null) or as one rank of `group`.
int collect_in_group(const Options& options, Precision precision, ProcessGroup* group) {
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
    // The tokenizer is read only when the folder has one: a file of token ids needs none.
    std::optional<TextCodec> codec;
    if (Tokenizer::present_in(folder)) codec = load_text_codec(folder);
    DatasetPromptTokens prompts = dataset_prompt_tokens(*prompts_file, codec ? &codec->tokenizer : nullptr,
                                                        codec ? codec->special : SpecialTokens{}, prepend_bos,
                                                        model->config().d_vocab, max_positions);
    const int64_t cut = prompts.cut;
    const CollectSettings settings{.folder = *out,
                                   .model = options.value("--model").value_or(folder.string()),
                                   .prompts_file = *prompts_file,
                                   .max_positions = max_positions,
                                   .shard_bytes = shard_bytes,
                                   .batch_prompts = batch_prompts,
                                   .prepend_bos = prepend_bos,
                                   .precision = precision};
    CollectRequest request = collect_request(*model, settings, filter, hooks, std::move(prompts));
    if (group) require_settings_of_first(*group, request.identity);

    if (cut > 0) {
        std::cerr << "collect: " << cut << " prompt(s) longer than " << max_positions << " positions cut to "
                  << max_positions << "\n";
    }
    const std::string prefix = group ? "rank " + std::to_string(group->rank()) + ": " : "";
    Progress progress(prefix);
    CollectCallbacks callbacks;
    callbacks.progress = [&](const CollectProgress& p) {
        if (p.tokens_done == 0 && p.kept_shards > 0) {
            std::cerr << "collect: " << prefix << "keeping " << p.kept_shards
                      << " finished shard(s) of an earlier run (" << p.prompts_done << " prompts)\n";
        }
        progress.show(p);
    };
    std::optional<DistributedDataset> ranks;
    if (group) {
        ranks.emplace(*group);
        callbacks.cancelled = [&] { return group->failure().has_value(); };
    }
    const std::optional<DatasetManifest> collected =
        collect_dataset(*model, std::move(request), callbacks, ranks ? &*ranks : nullptr);
    if (!collected) throw GroupError(group->failure().value_or("cancelled"));
    const DatasetManifest& manifest = *collected;
    if (group) {
        // Rank 0 has written the manifest; the others stay until it has, so that every
        // rank's exit status says whether the dataset is complete.
        group->wait_for_first("collect/manifest");
        if (group->rank() != 0) {
            std::cerr << "collect: " << prefix << "done; rank 0 wrote the manifest\n";
            return kOk;
        }
    }
    std::cout << "collected " << manifest.prompts << " prompts (" << manifest.tokens << " tokens) at " << hooks.size()
              << " hook points into " << manifest.shards.size() << " shard(s) in " << *out << "\n";
    return kOk;
}

} // namespace

} // namespace hookscope::cli
