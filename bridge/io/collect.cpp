#include "bridge/io/collect.h"

#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/formats/sha256.h"
#include "bridge/io/dataset_check.h"
#include "bridge/model/model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>

namespace hookscope {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> dataset_hooks(const Model& model, const NamesFilter& filter) {
    return dataset_hooks_of(model.hook_points(), filter);
}

json dataset_hook_points(const Model& model, const std::vector<std::string>& hooks) {
    json points = json::array();
    for (const std::string& name : hooks) {
        const auto info = std::find_if(model.hook_points().begin(), model.hook_points().end(),
                                       [&](const HookInfo& h) { return h.name == name; });
        if (info == model.hook_points().end()) continue;
        json shape = shape_json(*info);
        shape.erase(shape.begin()); // the batch axis; "pos" becomes the row axis T
        shape[0] = "T";
        points.push_back({{"name", name}, {"shape", shape}});
    }
    return points;
}

CollectRequest collect_request(const Model& model, const CollectSettings& settings, const NamesFilter& filter,
                               std::vector<std::string> hooks, DatasetPromptTokens prompts) {
    const auto prompts_sha = file_sha256(settings.prompts_file);
    if (!prompts_sha) throw InputError("cannot read the prompts file " + settings.prompts_file.string());
    CollectRequest request;
    request.folder = settings.folder;
    DatasetIdentity& identity = request.identity;
    identity.model = settings.model;
    identity.model_fingerprint = model.fingerprint();
    identity.names_filter = filter.text();
    identity.options = {{"max_positions", settings.max_positions},
                        {"shard_size", settings.shard_bytes},
                        {"batch_prompts", settings.batch_prompts},
                        {"prepend_bos", settings.prepend_bos},
                        {"dtype", precision_name(settings.precision)}};
    identity.prompts_file = settings.prompts_file.filename().string();
    identity.prompts_sha256 = *prompts_sha;
    request.hooks = std::move(hooks);
    request.prompts = std::move(prompts.tokens);
    request.prompt_places = std::move(prompts.places);
    request.cut_prompts = prompts.cut;
    request.shard_bytes = settings.shard_bytes;
    request.batch_prompts = settings.batch_prompts;
    return request;
}

namespace {

// One process: rank 0 of 1.
class SingleProcess final : public DatasetGroup {
public:
    int rank() const override { return 0; }
    int world_size() const override { return 1; }
    std::vector<std::string> gather_to_first(const std::string& text) override { return {text}; }
};

// The rows of a batch, per prompt one tensor per hook in `hooks` order.
std::vector<std::vector<at::Tensor>> batch_rows(const Model& model, const std::vector<std::vector<int64_t>>& batch,
                                                const std::vector<std::string>& hooks) {
    std::string names; // hook names hold no glob character, comma or slash: each is an exact item
    for (const std::string& name : hooks)
        names += (names.empty() ? "" : ", ") + name;
    const std::vector<NamedTensors> captured = model.capture_rows(batch, NamesFilter(names));
    std::vector<std::vector<at::Tensor>> rows;
    for (const NamedTensors& prompt : captured) {
        std::vector<at::Tensor> prompt_rows;
        for (const std::string& name : hooks) {
            const auto entry =
                std::find_if(prompt.begin(), prompt.end(), [&](const auto& e) { return e.first == name; });
            if (entry == prompt.end()) throw InputError("the forward did not reach hook point `" + name + "`");
            prompt_rows.push_back(entry->second);
        }
        rows.push_back(std::move(prompt_rows));
    }
    return rows;
}

} // namespace

std::optional<DatasetManifest> collect_dataset(const Model& model, CollectRequest request,
                                               const CollectCallbacks& callbacks, DatasetGroup* group) {
    SingleProcess alone;
    if (!group) group = &alone;
    const int rank = group->rank(), world = group->world_size();
    request.identity.world_size = world;
    const auto start = std::chrono::steady_clock::now();

    std::error_code ec;
    fs::create_directories(request.folder, ec);
    if (ec) throw InputError("cannot create the dataset folder " + request.folder.string() + ": " + ec.message());

    // This rank's prompts, in the order it computes them: batches rank, rank + world, …
    const auto count = static_cast<int64_t>(request.prompts.size());
    const int64_t batch_size = std::max(1, request.batch_prompts);
    std::vector<int64_t> order;
    for (int64_t first = rank * batch_size; first < count; first += world * batch_size) {
        for (int64_t p = first; p < std::min(count, first + batch_size); ++p)
            order.push_back(p);
    }

    std::vector<ShardRecord> shards = finished_shards(request.folder, rank, request.identity, order);
    std::size_t kept = 0; // prompts of `order` the kept shards hold
    for (const ShardRecord& s : shards)
        kept += static_cast<std::size_t>(s.prompts);

    CollectProgress progress;
    progress.prompts = static_cast<int64_t>(order.size());
    progress.prompts_done = static_cast<int64_t>(kept);
    progress.kept_shards = static_cast<int>(shards.size());
    for (std::size_t i = kept; i < order.size(); ++i)
        progress.tokens += static_cast<int64_t>(request.prompts[static_cast<std::size_t>(order[i])].size());
    if (callbacks.progress) callbacks.progress(progress);

    ShardWriter writer(request.folder, rank, request.identity, request.hooks, request.shard_bytes,
                       progress.kept_shards);
    for (std::size_t at = 0; at < order.size(); at += static_cast<std::size_t>(batch_size)) {
        const std::size_t end = std::min(order.size(), at + static_cast<std::size_t>(batch_size));
        if (end <= kept) continue;
        if (callbacks.cancelled && callbacks.cancelled()) return std::nullopt;
        // The whole batch is computed even when a kept shard ends inside it: a prompt's
        // rows then come from the same batch as in the run that wrote the shard.
        std::vector<std::vector<int64_t>> batch;
        for (std::size_t i = at; i < end; ++i)
            batch.push_back(request.prompts[static_cast<std::size_t>(order[i])]);
        std::vector<std::vector<at::Tensor>> rows;
        try {
            rows = batch_rows(model, batch, request.hooks);
        } catch (const Error& e) {
            const auto first = static_cast<std::size_t>(order[at]);
            const std::string place = first < request.prompt_places.size() ? request.prompt_places[first] : "";
            throw InputError("the batch of prompts " + std::to_string(order[at]) + " to " +
                             std::to_string(order[end - 1]) + (place.empty() ? "" : " (from " + place + ")") + ": " +
                             e.what());
        }
        for (std::size_t i = std::max(at, kept); i < end; ++i) {
            progress.tokens_done += static_cast<int64_t>(batch[i - at].size());
            if (auto shard = writer.add(order[i], batch[i - at], rows[i - at])) shards.push_back(*shard);
        }
        progress.prompts_done = static_cast<int64_t>(end);
        progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (callbacks.progress) callbacks.progress(progress);
    }
    if (auto shard = writer.finish()) shards.push_back(*shard);

    json mine = json::array();
    for (const ShardRecord& s : shards)
        mine.push_back(shard_json(s));
    const std::vector<std::string> gathered = group->gather_to_first(mine.dump());

    DatasetManifest manifest;
    manifest.identity = request.identity;
    manifest.hook_points = dataset_hook_points(model, request.hooks);
    manifest.prompts = count;
    manifest.cut_prompts = request.cut_prompts;
    if (rank != 0) {
        manifest.shards = std::move(shards);
        return manifest;
    }
    for (std::size_t r = 0; r < gathered.size(); ++r) {
        const json list = json::parse(gathered[r], nullptr, false);
        try {
            for (const json& s : list)
                manifest.shards.push_back(shard_from_json(s));
        } catch (const json::exception& e) {
            throw InputError("rank " + std::to_string(r) + " sent a malformed shard list: " + e.what());
        }
    }
    for (const ShardRecord& s : manifest.shards)
        manifest.tokens += s.tokens;
    write_manifest(request.folder, manifest);
    return manifest;
}

} // namespace hookscope
