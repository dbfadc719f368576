#include "ui/runner/dataset_job.h"

#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/io/dataset_check.h"

#include <filesystem>

namespace hookscope::ui {

namespace fs = std::filesystem;

namespace {

// The dataset folder `path` names: itself, or the folder of its manifest.json.
fs::path dataset_folder(const std::string& path) {
    const fs::path p(path);
    std::error_code ec;
    if (p.filename() == kManifestName && !fs::is_directory(p, ec)) return p.parent_path();
    return p;
}

} // namespace

bool is_dataset_path(const std::string& path) {
    const fs::path p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) return fs::is_regular_file(p / kManifestName, ec);
    return p.filename() == kManifestName;
}

DatasetSummary read_dataset_summary(const std::string& path) {
    const fs::path folder = dataset_folder(path);
    const DatasetManifest manifest = open_dataset(folder);
    DatasetSummary s;
    s.folder = folder.string();
    const DatasetIdentity& id = manifest.identity;
    s.model = id.model;
    s.fingerprint = id.model_fingerprint;
    s.names_filter = id.names_filter;
    s.prompts_file = id.prompts_file;
    s.prompts_sha256 = id.prompts_sha256;
    s.options = id.options.dump();
    s.world_size = id.world_size;
    s.prompts = manifest.prompts;
    s.tokens = manifest.tokens;
    s.cut_prompts = manifest.cut_prompts;
    try {
        for (const nlohmann::json& hook : manifest.hook_points)
            s.hooks.push_back({hook.at("name").get<std::string>(), json_shape_text(hook.at("shape"))});
    } catch (const nlohmann::json::exception& e) {
        throw InputError((folder / kManifestName).string() + ": `hook_points` is malformed (" + e.what() + ")");
    }
    for (const ShardRecord& r : manifest.shards) {
        DatasetSummary::Shard shard{r.file, r.rank, "", r.prompts, r.tokens, r.bytes};
        for (const auto& [first, end] : r.prompt_ranges) {
            if (!shard.prompt_ranges.empty()) shard.prompt_ranges += " ";
            shard.prompt_ranges += std::to_string(first) + ".." + std::to_string(end - 1);
        }
        s.shards.push_back(std::move(shard));
    }
    return s;
}

std::vector<std::string> damaged_shards(const std::string& folder) {
    const fs::path dir = dataset_folder(folder);
    std::vector<std::string> damaged;
    for (const ShardRecord& shard : open_dataset(dir).shards) {
        if (auto damage = shard_damage(dir, shard)) damaged.push_back(std::move(*damage));
    }
    return damaged;
}

} // namespace hookscope::ui
