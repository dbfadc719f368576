#pragma once
// An activation dataset opened in the window (File > Open cache file… on a dataset
// folder or its manifest.json): the summary its manifest gives and the check of its
// shards, as `hookscope inspect DIR [--verify]` reads them. Free of Qt: Qt's `slots`
// keyword must not precede LibTorch's headers where it is compiled.

#include <cstdint>
#include <string>
#include <vector>

namespace hookscope::ui {

struct DatasetSummary {
    std::string folder;
    std::string model, fingerprint, names_filter;
    std::string prompts_file, prompts_sha256;
    std::string options; // as JSON
    int world_size = 1;
    int64_t prompts = 0, tokens = 0, cut_prompts = 0;
    struct Hook {
        std::string name;
        std::string shape; // of one row, "T" first: "[T, 4, 16]"
    };
    std::vector<Hook> hooks;
    struct Shard {
        std::string file;
        int rank = 0;
        std::string prompt_ranges; // "0..7 16..23"
        int64_t prompts = 0, tokens = 0;
        uint64_t bytes = 0;
    };
    std::vector<Shard> shards;
};

// Whether `path` names a dataset: a folder holding manifest.json, or a manifest.json.
bool is_dataset_path(const std::string& path);

// The dataset at `path` (its folder, or its manifest.json). Throws InputError naming
// the manifest and what is wrong with it, or the folder when it has no manifest.
DatasetSummary read_dataset_summary(const std::string& path);

// Every shard of dataset `folder` whose bytes do not match the SHA-256 its manifest
// records (or that is missing), each in words; empty when all match. Throws as
// read_dataset_summary.
std::vector<std::string> damaged_shards(const std::string& folder);

} // namespace hookscope::ui
