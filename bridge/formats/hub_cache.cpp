#include "bridge/formats/hub_cache.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/core/model_config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

namespace hookscope {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "models--";

std::optional<fs::path> env_path(const char* name) {
    const char* value = std::getenv(name);
    if (!value || !*value) return std::nullopt;
    return fs::path(value);
}

// "ORG/NAME" -> "models--ORG--NAME"; nullopt for text that is not a hub id.
std::optional<std::string> repo_folder_name(std::string_view id) {
    const auto slash = id.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == id.size() ||
        id.find('/', slash + 1) != std::string_view::npos || id.find("..") != std::string_view::npos) {
        return std::nullopt;
    }
    std::string name(kPrefix);
    name += id.substr(0, slash);
    name += "--";
    name += id.substr(slash + 1);
    return name;
}

std::optional<fs::path> snapshot_of(const fs::path& repo) {
    std::error_code ec;
    if (!fs::is_directory(repo / "snapshots", ec)) return std::nullopt;
    std::ifstream ref(repo / "refs" / "main");
    std::string revision;
    if (ref && std::getline(ref, revision) && !revision.empty() && revision.find('/') == std::string::npos) {
        const fs::path snapshot = repo / "snapshots" / revision;
        if (fs::is_directory(snapshot, ec)) return snapshot;
    }
    // No usable refs/main: take the snapshot when there is exactly one.
    std::vector<fs::path> snapshots;
    for (const auto& entry : fs::directory_iterator(repo / "snapshots", ec)) {
        if (entry.is_directory(ec)) snapshots.push_back(entry.path());
    }
    if (snapshots.size() == 1) return snapshots.front();
    return std::nullopt;
}

std::uintmax_t folder_bytes(const fs::path& folder) {
    std::uintmax_t bytes = 0;
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(folder, ec)) {
        if (entry.is_regular_file(ec)) bytes += entry.file_size(ec); // follows links into blobs
    }
    return bytes;
}

} // namespace

std::vector<fs::path> hub_cache_roots() {
    std::vector<fs::path> candidates;
    if (auto cache = env_path("HF_HUB_CACHE")) candidates.push_back(*cache);
    if (auto home = env_path("HF_HOME")) candidates.push_back(*home / "hub");
    if (auto home = env_path("HOME")) candidates.push_back(*home / ".cache" / "huggingface" / "hub");
    std::vector<fs::path> roots;
    std::error_code ec;
    for (const fs::path& root : candidates) {
        if (fs::is_directory(root, ec) && std::find(roots.begin(), roots.end(), root) == roots.end()) {
            roots.push_back(root);
        }
    }
    return roots;
}

std::optional<fs::path> find_cached_model(std::string_view hub_id) {
    const auto name = repo_folder_name(hub_id);
    if (!name) return std::nullopt;
    for (const fs::path& root : hub_cache_roots()) {
        if (auto snapshot = snapshot_of(root / *name)) return snapshot;
    }
    return std::nullopt;
}

std::vector<CachedModel> list_cached_models() {
    std::map<std::string, CachedModel> found;
    std::error_code ec;
    for (const fs::path& root : hub_cache_roots()) {
        for (const auto& entry : fs::directory_iterator(root, ec)) {
            const std::string name = entry.path().filename().string();
            if (name.rfind(kPrefix, 0) != 0) continue;
            const std::string rest = name.substr(kPrefix.size());
            const auto separator = rest.find("--");
            if (separator == std::string::npos) continue;
            const std::string id = rest.substr(0, separator) + "/" + rest.substr(separator + 2);
            if (found.count(id)) continue;
            const auto snapshot = snapshot_of(entry.path());
            if (!snapshot) continue;
            CachedModel model{id, *snapshot, "", folder_bytes(*snapshot)};
            try {
                model.architecture = load_model_config(*snapshot).architecture;
            } catch (const Error&) {
                // Listed without an architecture: its config is missing or not one we run.
            }
            found.emplace(id, std::move(model));
        }
    }
    std::vector<CachedModel> models;
    for (auto& [id, model] : found)
        models.push_back(std::move(model));
    return models;
}

fs::path resolve_model_folder(const std::string& spec) {
    std::error_code ec;
    if (fs::is_directory(spec, ec)) return spec;
    if (repo_folder_name(spec) && !fs::exists(spec, ec)) {
        if (auto snapshot = find_cached_model(spec)) return *snapshot;
        std::string searched;
        for (const fs::path& root : hub_cache_roots())
            searched += (searched.empty() ? "" : ", ") + root.string();
        throw Error("model `" + spec + "` is not in the local Hugging Face cache (searched: " +
                    (searched.empty() ? std::string("no cache folder exists") : searched) +
                    "). HookScope never downloads: fetch it where there is a network (huggingface-cli download " +
                    spec + ") or pass a checkpoint folder");
    }
    throw Error("model `" + spec +
                "` is not a folder (a Hugging Face checkpoint folder with config.json and *.safetensors) "
                "nor a hub id like ORG/NAME");
}

} // namespace hookscope
