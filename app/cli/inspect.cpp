// `inspect`: the metadata and tensors of an exported cache, or the summary of an
// activation dataset folder (`collect`'s), its shards checked on request.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/io/dataset_check.h"
#include "bridge/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

namespace {

// The manifest of dataset folder `dir`: its summary (or the manifest itself with
// --json), then with --verify every shard's SHA-256 against the manifest's.
int inspect_dataset(const std::filesystem::path& dir, const Options& options) {
    const DatasetManifest manifest = open_dataset(dir);
    if (options.flag("--json")) {
        std::cout << manifest_json(manifest).dump() << "\n";
    } else {
        const DatasetIdentity& id = manifest.identity;
        std::cout << "format: " << kDatasetFormat << "\nmodel: " << id.model << " (fingerprint " << id.model_fingerprint
                  << ")\nnames filter: " << id.names_filter << "\nprompts file: " << id.prompts_file << " (SHA-256 "
                  << id.prompts_sha256 << ")\noptions: " << id.options.dump() << "\nprompts: " << manifest.prompts
                  << " (" << manifest.cut_prompts << " cut)\ntokens: " << manifest.tokens << "\n\nhook points ("
                  << manifest.hook_points.size() << "):\n";
        for (const json& hook : manifest.hook_points)
            std::cout << "  " << hook.at("name").get<std::string>() << "  " << json_shape_text(hook.at("shape"))
                      << "\n";
        std::cout << "\nshards (" << manifest.shards.size() << "):\n";
        for (const ShardRecord& s : manifest.shards) {
            std::cout << "  " << s.file << "  prompts";
            for (const auto& [first, end] : s.prompt_ranges)
                std::cout << " " << first << ".." << end - 1;
            std::cout << "  " << s.tokens << " tokens  " << s.bytes << " bytes\n";
        }
    }
    if (!options.flag("--verify")) return kOk;
    for (const ShardRecord& s : manifest.shards) {
        if (const auto damage = shard_damage(dir, s)) throw InputError(*damage);
    }
    std::cerr << "verified " << manifest.shards.size() << " shard(s)\n";
    return kOk;
}

} // namespace

OptionSpec inspect_options() {
    return spec({"--json", "--verify"}, {}, 1);
}

int inspect_command(const Options& options) {
    apply_common(options);
    if (options.positionals().empty()) throw UsageError("`inspect` needs a FILE or a dataset DIR");
    const std::filesystem::path target(options.positionals().front());
    if (std::filesystem::is_directory(target)) return inspect_dataset(target, options);
    if (options.flag("--verify"))
        throw UsageError("--verify checks a dataset folder; " + target.string() + " is a file");
    if (std::filesystem::path(options.positionals().front()).extension() == ".npz") {
        throw Error("`inspect` reads safetensors exports; open .npz files with numpy.load(FILE, "
                    "allow_pickle=False) or export to .safetensors");
    }
    const auto file = SafetensorsFile::open(options.positionals().front());
    json tensors = json::array();
    for (const TensorInfo& t : file->tensors()) {
        tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"metadata", file->metadata()}, {"tensors", tensors}}.dump() << "\n";
        return kOk;
    }
    for (const auto& [key, value] : file->metadata())
        std::cout << key << ": " << value << "\n";
    if (!file->metadata().empty()) std::cout << "\n";
    for (const auto& t : tensors) {
        std::cout << t["name"].get<std::string>() << "  " << t["dtype"].get<std::string>() << "  "
                  << json_shape_text(t["shape"]) << "\n";
    }
    return kOk;
}

} // namespace hookscope::cli
