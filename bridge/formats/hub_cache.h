#pragma once
// Models in the local Hugging Face cache, found by hub id (`EleutherAI/pythia-70m`).
// Never touches the network: a model that is not on disk is reported as such.
//
// Layout: <root>/models--ORG--NAME/snapshots/<revision>/ (files are often symlinks into
// ../../blobs), with refs/main naming the revision. Roots, in order: $HF_HUB_CACHE,
// $HF_HOME/hub, ~/.cache/huggingface/hub.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

// The cache roots that exist, in the order they are searched.
std::vector<std::filesystem::path> hub_cache_roots();

// The snapshot folder of `hub_id` (refs/main's revision, or the only snapshot), or
// nullopt when no root has it.
std::optional<std::filesystem::path> find_cached_model(std::string_view hub_id);

struct CachedModel {
    std::string id;               // "ORG/NAME"
    std::filesystem::path folder; // its snapshot
    std::string architecture;     // from config.json ("" when it cannot be read)
    std::uintmax_t bytes = 0;     // all files of the snapshot
};

// Every model in every root (first root wins for an id), sorted by id.
std::vector<CachedModel> list_cached_models();

// A --model argument: an existing folder as it is, else a hub id from the cache.
// Throws Error saying where it looked when it is neither.
std::filesystem::path resolve_model_folder(const std::string& spec);

} // namespace hookscope
