#include "bridge/io/dataset_check.h"

#include "bridge/core/errors.h"
#include "bridge/formats/sha256.h"

namespace hookscope {

std::vector<std::string> dataset_hooks_of(const std::vector<HookInfo>& hooks, const NamesFilter& filter) {
    std::vector<std::string> selected, matrices;
    for (const HookInfo& info : hooks) {
        if (!filter.matches(info.name)) continue;
        (is_attention_matrix(info.name) ? matrices : selected).push_back(info.name);
    }
    if (!matrices.empty()) {
        std::string names;
        for (const std::string& name : matrices)
            names += (names.empty() ? "" : ", ") + name;
        throw FilterError("a dataset records per-token hook points only; the names filter `" + filter.text() +
                          "` selects attention matrices [B, H, P, P]: " + names);
    }
    if (selected.empty())
        throw FilterError("the names filter `" + filter.text() + "` selects no hook point of this model");
    return selected;
}

DatasetManifest open_dataset(const std::filesystem::path& folder) {
    auto manifest = read_manifest(folder);
    if (!manifest) {
        throw InputError(folder.string() + " is a folder without " + kManifestName +
                         ", not an activation dataset (or its collect has not finished)");
    }
    return std::move(*manifest);
}

std::optional<std::string> shard_damage(const std::filesystem::path& folder, const ShardRecord& shard) {
    const std::filesystem::path path = folder / shard.file;
    const auto sha = file_sha256(path);
    if (!sha) return "shard " + path.string() + " is missing or unreadable";
    if (*sha != shard.sha256) {
        return "shard " + path.string() + " is damaged: its SHA-256 is " + *sha + ", the manifest records " +
               shard.sha256;
    }
    return std::nullopt;
}

} // namespace hookscope
