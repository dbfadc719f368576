#pragma once
// Collecting an activation dataset (dataset.h) from prompts already turned into token
// ids: batches of consecutive prompts, one packed forward per batch that ends
// after the last selected hook point (Model::capture_rows), rows streamed into shards,
// and the manifest, written once every rank has finished. One process, or one rank of
// several through a DatasetGroup.

#include "bridge/core/names_filter.h"
#include "bridge/core/precision.h"
#include "bridge/io/dataset.h"
#include "bridge/io/dataset_tokens.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

class Model;

// The hook points a dataset records for `filter`, in execution order: per-token points
// only. Throws FilterError naming the attention matrices [B, H, P, P] it selects, or
// saying it selects nothing.
std::vector<std::string> dataset_hooks(const Model& model, const NamesFilter& filter);

// The manifest's `hook_points`: each hook's name and the shape of its rows, "T" first.
nlohmann::json dataset_hook_points(const Model& model, const std::vector<std::string>& hooks);

// The processes that compute one dataset. Rank r of w takes batches r, r + w, r + 2w, …
class DatasetGroup {
public:
    virtual ~DatasetGroup() = default;
    virtual int rank() const = 0;
    virtual int world_size() const = 0;
    // Collective: every rank's `text`, in rank order, on rank 0; empty on the others.
    virtual std::vector<std::string> gather_to_first(const std::string& text) = 0;
};

struct CollectRequest {
    std::filesystem::path folder;
    DatasetIdentity identity;                  // world_size: the group's, 1 without one
    std::vector<std::string> hooks;            // dataset_hooks()
    std::vector<std::vector<int64_t>> prompts; // token ids, already cut to the maximum positions
    std::vector<std::string> prompt_places;    // where each prompt comes from ("file:line"), for messages
    int64_t cut_prompts = 0;                   // how many were cut
    uint64_t shard_bytes = 1'000'000'000;
    int batch_prompts = 8;
};

// What a user asks of a collect, beside the model and the hook points.
struct CollectSettings {
    std::filesystem::path folder;       // the dataset folder
    std::string model;                  // as the identity names it: the folder or hub id given
    std::filesystem::path prompts_file; // its name and SHA-256 enter the identity
    int64_t max_positions = 0;
    uint64_t shard_bytes = 1'000'000'000;
    int batch_prompts = 8;
    bool prepend_bos = true;
    Precision precision = Precision::Float32; // the dtype computed in
};

// The request for `prompts` (dataset_prompt_tokens of the settings' file) at `hooks`
// (dataset_hooks of `filter`), with the identity every caller records alike, so the
// command line and the window resume each other's datasets. Throws InputError when the
// prompts file cannot be read.
CollectRequest collect_request(const Model& model, const CollectSettings& settings, const NamesFilter& filter,
                               std::vector<std::string> hooks, DatasetPromptTokens prompts);

struct CollectProgress {
    int64_t prompts_done = 0, prompts = 0; // of this rank, kept ones included
    int64_t tokens_done = 0, tokens = 0;   // computed by this run, and to compute in all
    double seconds = 0;                    // since collect_dataset began
    int kept_shards = 0;                   // of this rank, from an earlier run
};

struct CollectCallbacks {
    std::function<void(const CollectProgress&)> progress; // before the first batch and after each
    std::function<bool()> cancelled;                      // polled before each batch
};

// Computes this rank's batches into `request.folder` (created when missing), keeping
// the shards an earlier run of the same request finished (finished_shards), and on rank
// 0 writes manifest.json once every rank has finished. Returns the manifest: on rank 0
// the dataset's, on the others with their own shards only. Throws InputError naming the
// batch and the first prompt's place when a forward fails, InputError when the folder
// holds a dataset made differently, ExportError when writing fails. nullopt when
// cancelled (finished shards stay, for a rerun to keep; no manifest is written).
std::optional<DatasetManifest> collect_dataset(const Model& model, CollectRequest request,
                                               const CollectCallbacks& callbacks = {}, DatasetGroup* group = nullptr);

} // namespace hookscope
