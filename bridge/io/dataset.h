#pragma once
// Activation datasets (`hookscope collect`): a folder of shards
// `shard-R-NNNNN.safetensors` (R the rank) and a `manifest.json` describing them.
//
// A shard holds whole prompts: every selected hook point as one float32 tensor
// [T, ...] (the rows of all its prompts' tokens, in prompt order, BOS rows included)
// and `token_ids`, `prompt_index`, `position`, each [T] int64. Its `__metadata__`
// records the dataset's identity (DatasetIdentity), the rank and the prompts it holds,
// so a rerun can keep it without the manifest.

#include "bridge/formats/sha256.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hookscope {

inline constexpr const char* kDatasetFormat = "hookscope.activation_dataset.v1";
inline constexpr const char* kManifestName = "manifest.json";

// What makes two runs the same dataset: a rerun that differs in any of it is refused.
struct DatasetIdentity {
    std::string model;             // folder or hub id
    std::string model_fingerprint; // Checkpoint::fingerprint()
    std::string names_filter;
    nlohmann::json options;     // every option, keyed as the flag without dashes (max_positions, ...)
    std::string prompts_file;   // the prompts file's name
    std::string prompts_sha256; // and its bytes' hash
    int world_size = 1;
};

// What differs between a dataset recorded with `recorded` and a run with `now`, in
// words ("--shard-size: recorded 1000, now 2000"); nullopt when nothing does.
std::optional<std::string> identity_difference(const DatasetIdentity& recorded, const DatasetIdentity& now);

// A written shard as the manifest lists it.
struct ShardRecord {
    std::string file; // name inside the dataset folder
    int rank = 0;
    std::vector<std::pair<int64_t, int64_t>> prompt_ranges; // [first, end) prompt indices, in order
    int64_t prompts = 0;
    int64_t tokens = 0;
    uint64_t bytes = 0;
    std::string sha256;
};

// A shard as the manifest's `shards` list holds it, and back (throws json::exception
// for a missing or mistyped field).
nlohmann::json shard_json(const ShardRecord& shard);
ShardRecord shard_from_json(const nlohmann::json& value);

// "shard-R-NNNNN.safetensors".
std::string shard_file_name(int rank, int index);

// Fills shards of about `shard_bytes` with whole prompts and writes each atomically
// as soon as the next prompt would pass the size (a prompt larger than the size gets
// a shard of its own). Holds at most one shard's rows.
class ShardWriter {
public:
    // `hooks`: the hook names, in the order add() receives their rows. Shards are
    // numbered from `first_index` (those before it were kept from an earlier run).
    ShardWriter(std::filesystem::path folder, int rank, DatasetIdentity identity, std::vector<std::string> hooks,
                uint64_t shard_bytes, int first_index = 0);

    // Adds prompt `prompt_index`: its token ids and one tensor per hook, [P, ...] with
    // P = tokens.size() (converted to float32). Returns the shard written first to make
    // room, if any. Throws ExportError when writing fails.
    std::optional<ShardRecord> add(int64_t prompt_index, const std::vector<int64_t>& tokens,
                                   const std::vector<at::Tensor>& rows);
    // Writes the shard being filled, if it holds any prompt.
    std::optional<ShardRecord> finish();

private:
    struct Prompt {
        int64_t index;
        std::vector<int64_t> tokens;
        std::vector<at::Tensor> rows;
    };
    ShardRecord write();

    std::filesystem::path folder_;
    int rank_;
    DatasetIdentity identity_;
    std::vector<std::string> hooks_;
    uint64_t shard_bytes_;
    int next_index_;
    std::vector<Prompt> pending_;
    uint64_t pending_bytes_ = 0;
};

// The dataset as manifest.json describes it.
struct DatasetManifest {
    DatasetIdentity identity;
    nlohmann::json hook_points = nlohmann::json::array(); // [{"name", "shape"}], shape of one row
    std::vector<ShardRecord> shards;
    int64_t prompts = 0, tokens = 0, cut_prompts = 0;
};

nlohmann::json manifest_json(const DatasetManifest& manifest);
// Writes `folder`/manifest.json atomically. Throws ExportError.
void write_manifest(const std::filesystem::path& folder, const DatasetManifest& manifest);
// `folder`/manifest.json, or nullopt when there is none. Throws InputError naming the
// file and the field when it is malformed.
std::optional<DatasetManifest> read_manifest(const std::filesystem::path& folder);

// The shards of rank `rank` that a rerun keeps: the longest run shard-R-00000,
// shard-R-00001, ... of complete shards made with `identity` whose prompts are the
// first of `order` (the rank's prompt indices, in the order it computes them), each
// matching the SHA-256 the manifest records for it where one lists it. Throws
// InputError naming the difference when the manifest or a shard was made with
// another identity.
std::vector<ShardRecord> finished_shards(const std::filesystem::path& folder, int rank, const DatasetIdentity& identity,
                                         const std::vector<int64_t>& order);

} // namespace hookscope
