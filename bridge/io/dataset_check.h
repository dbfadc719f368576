#pragma once
// Opening an activation dataset folder (dataset.h) to read it, and checking its shards
// against the SHA-256 its manifest records: what `hookscope inspect DIR [--verify]`
// and the window's dataset summary share.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "bridge/io/dataset.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

// dataset_hooks (collect.h) over a model's hook points without the model itself, as the
// window checks a filter before a collect: the per-token points `filter` selects, in
// the order of `hooks`. Throws FilterError naming the attention matrices it selects, or
// saying it selects nothing, in the same words.
std::vector<std::string> dataset_hooks_of(const std::vector<HookInfo>& hooks, const NamesFilter& filter);

// The manifest of dataset folder `folder`. Throws InputError when the folder has no
// manifest.json (not a dataset, or its collect has not finished) or it is malformed.
DatasetManifest open_dataset(const std::filesystem::path& folder);

// Why shard `shard` of dataset `folder` fails its check: missing or unreadable, or
// bytes whose SHA-256 differs from the manifest's; nullopt when it matches.
std::optional<std::string> shard_damage(const std::filesystem::path& folder, const ShardRecord& shard);

} // namespace hookscope
