#include "bridge/io/dataset.h"

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/formats/safetensors_header.h"
#include "bridge/model/safetensors.h"

#include <ATen/ATen.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace hookscope {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Forwards every byte to the file and hashes it on the way, so a shard's SHA-256
// needs no second read.
class HashingSink final : public ByteSink {
public:
    explicit HashingSink(ByteSink& out) : out_(out) {}
    using ByteSink::write;
    void write(const void* data, std::size_t size) override {
        hash.update(data, size);
        out_.write(data, size);
    }
    Sha256 hash;

private:
    ByteSink& out_;
};

json ranges_json(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
    json out = json::array();
    for (const auto& [first, end] : ranges)
        out.push_back({first, end});
    return out;
}

std::vector<std::pair<int64_t, int64_t>> ranges_from(const json& value) {
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (const json& range : value)
        ranges.emplace_back(range.at(0).get<int64_t>(), range.at(1).get<int64_t>());
    return ranges;
}

// Appends `index` to `ranges`, extending the last range when it follows it.
void add_to_ranges(std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t index) {
    if (!ranges.empty() && ranges.back().second == index) {
        ++ranges.back().second;
    } else {
        ranges.emplace_back(index, index + 1);
    }
}

std::map<std::string, std::string> shard_metadata(const DatasetIdentity& identity, int rank, const ShardRecord& shard) {
    return {
        {"format", kDatasetFormat},
        {"rank", std::to_string(rank)},
        {"world_size", std::to_string(identity.world_size)},
        {"model", identity.model},
        {"model_fingerprint", identity.model_fingerprint},
        {"names_filter", identity.names_filter},
        {"options", identity.options.dump()},
        {"prompts_file", identity.prompts_file},
        {"prompts_sha256", identity.prompts_sha256},
        {"prompt_ranges", ranges_json(shard.prompt_ranges).dump()},
        {"tokens", std::to_string(shard.tokens)},
    };
}

std::string option_flag(std::string key) {
    for (char& c : key) {
        if (c == '_') c = '-';
    }
    return "--" + key;
}

std::string shown(const json& value) {
    if (!value.is_string()) return value.dump();
    std::string text = "`"; // built in steps: GCC 12 warns falsely about "`" + string + "`"
    text += value.get_ref<const std::string&>();
    text += '`';
    return text;
}

// The identity a shard's metadata records; throws InputError naming the shard.
DatasetIdentity shard_identity(const SafetensorsFile& file) {
    const auto& m = file.metadata();
    const auto field = [&](const std::string& key) -> const std::string& {
        const auto it = m.find(key);
        if (it == m.end()) {
            throw InputError(file.path().string() + " is not a dataset shard: its metadata lacks `" + key + "`");
        }
        return it->second;
    };
    if (field("format") != kDatasetFormat) {
        throw InputError(file.path().string() + " is not a dataset shard of format " + kDatasetFormat);
    }
    DatasetIdentity identity;
    identity.model = field("model");
    identity.model_fingerprint = field("model_fingerprint");
    identity.names_filter = field("names_filter");
    identity.options = json::parse(field("options"), nullptr, false);
    identity.prompts_file = field("prompts_file");
    identity.prompts_sha256 = field("prompts_sha256");
    try {
        identity.world_size = std::stoi(field("world_size"));
    } catch (const std::exception&) {
        throw InputError(file.path().string() + ": its metadata's world_size `" + field("world_size") +
                         "` is not a number");
    }
    return identity;
}

json identity_json(const DatasetIdentity& identity) {
    return {{"model", identity.model},
            {"model_fingerprint", identity.model_fingerprint},
            {"names_filter", identity.names_filter},
            {"options", identity.options},
            {"prompts_file", identity.prompts_file},
            {"prompts_sha256", identity.prompts_sha256},
            {"world_size", identity.world_size}};
}

} // namespace

std::optional<std::string> identity_difference(const DatasetIdentity& recorded, const DatasetIdentity& now) {
    const auto differs = [](const std::string& what, const json& before, const json& after) {
        return what + ": recorded " + shown(before) + ", now " + shown(after);
    };
    if (recorded.world_size != now.world_size) return differs("world size", recorded.world_size, now.world_size);
    // The same checkpoint named by another path is the same model.
    if (recorded.model_fingerprint != now.model_fingerprint) {
        return differs("model", recorded.model + " (fingerprint " + recorded.model_fingerprint + ")",
                       now.model + " (fingerprint " + now.model_fingerprint + ")");
    }
    if (recorded.prompts_file != now.prompts_file)
        return differs("prompts file", recorded.prompts_file, now.prompts_file);
    if (recorded.prompts_sha256 != now.prompts_sha256) {
        return differs("prompts file contents (SHA-256)", recorded.prompts_sha256, now.prompts_sha256);
    }
    if (recorded.names_filter != now.names_filter)
        return differs("--names-filter", recorded.names_filter, now.names_filter);
    json keys = json::object();
    for (const auto* options : {&recorded.options, &now.options}) {
        if (!options->is_object()) continue;
        for (const auto& [key, value] : options->items())
            keys[key] = true;
    }
    for (const auto& [key, unused] : keys.items()) {
        const json before = recorded.options.value(key, json()), after = now.options.value(key, json());
        if (before != after) return differs(option_flag(key), before, after);
    }
    return std::nullopt;
}

std::string shard_file_name(int rank, int index) {
    std::array<char, 64> name{};
    std::snprintf(name.data(), name.size(), "shard-%d-%05d.safetensors", rank, index);
    return name.data();
}

ShardWriter::ShardWriter(fs::path folder, int rank, DatasetIdentity identity, std::vector<std::string> hooks,
                         uint64_t shard_bytes, int first_index)
    : folder_(std::move(folder)), rank_(rank), identity_(std::move(identity)), hooks_(std::move(hooks)),
      shard_bytes_(shard_bytes), next_index_(first_index) {}

std::optional<ShardRecord> ShardWriter::add(int64_t prompt_index, const std::vector<int64_t>& tokens,
                                            const std::vector<at::Tensor>& rows) {
    if (rows.size() != hooks_.size()) throw Error("ShardWriter::add: one tensor per hook point expected");
    Prompt prompt{prompt_index, tokens, {}};
    uint64_t bytes = 3 * sizeof(int64_t) * tokens.size(); // token_ids, prompt_index, position
    for (std::size_t k = 0; k < rows.size(); ++k) {
        if (rows[k].dim() < 1 || rows[k].size(0) != static_cast<int64_t>(tokens.size())) {
            throw Error("ShardWriter::add: `" + hooks_[k] + "` has no row per token of prompt " +
                        std::to_string(prompt_index));
        }
        prompt.rows.push_back(rows[k].to(at::kCPU, at::kFloat).contiguous());
        bytes += prompt.rows.back().numel() * sizeof(float);
    }
    std::optional<ShardRecord> written;
    if (!pending_.empty() && pending_bytes_ + bytes > shard_bytes_) written = write();
    pending_.push_back(std::move(prompt));
    pending_bytes_ += bytes;
    return written;
}

std::optional<ShardRecord> ShardWriter::finish() {
    if (pending_.empty()) return std::nullopt;
    return write();
}

ShardRecord ShardWriter::write() {
    ShardRecord shard;
    shard.file = shard_file_name(rank_, next_index_);
    shard.rank = rank_;
    std::vector<int64_t> token_ids, prompt_index, position;
    for (const Prompt& p : pending_) {
        add_to_ranges(shard.prompt_ranges, p.index);
        for (std::size_t k = 0; k < p.tokens.size(); ++k) {
            token_ids.push_back(p.tokens[k]);
            prompt_index.push_back(p.index);
            position.push_back(static_cast<int64_t>(k));
        }
    }
    shard.prompts = static_cast<int64_t>(pending_.size());
    shard.tokens = static_cast<int64_t>(token_ids.size());

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["__metadata__"] = shard_metadata(identity_, rank_, shard);
    uint64_t offset = 0;
    const auto describe = [&](const std::string& name, const char* dtype, std::vector<int64_t> shape, uint64_t bytes) {
        header[name] = {{"dtype", dtype}, {"shape", std::move(shape)}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    };
    for (std::size_t h = 0; h < hooks_.size(); ++h) {
        std::vector<int64_t> shape = pending_.front().rows[h].sizes().vec();
        shape[0] = shard.tokens;
        int64_t numel = 1;
        for (const int64_t d : shape)
            numel *= d;
        describe(hooks_[h], "F32", shape, static_cast<uint64_t>(numel) * sizeof(float));
    }
    const uint64_t id_bytes = token_ids.size() * sizeof(int64_t);
    for (const char* name : {"token_ids", "prompt_index", "position"})
        describe(name, "I64", {shard.tokens}, id_bytes);
    const std::string prefix =
        safetensors_prefix(header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));

    const fs::path path = folder_ / shard.file;
    write_file_atomically(path, [&](ByteSink& file) {
        HashingSink out(file);
        out.write(prefix);
        for (std::size_t h = 0; h < hooks_.size(); ++h) {
            for (const Prompt& p : pending_)
                out.write(p.rows[h].data_ptr(), p.rows[h].numel() * sizeof(float));
        }
        for (const auto* ids : {&token_ids, &prompt_index, &position})
            out.write(ids->data(), id_bytes);
        shard.sha256 = out.hash.hex_digest();
    });
    shard.bytes = prefix.size() + offset;
    pending_.clear();
    pending_bytes_ = 0;
    ++next_index_;
    return shard;
}

json shard_json(const ShardRecord& s) {
    return {{"file", s.file},       {"rank", s.rank},     {"prompt_ranges", ranges_json(s.prompt_ranges)},
            {"prompts", s.prompts}, {"tokens", s.tokens}, {"bytes", s.bytes},
            {"sha256", s.sha256}};
}

ShardRecord shard_from_json(const json& s) {
    return {.file = s.at("file").get<std::string>(),
            .rank = s.at("rank").get<int>(),
            .prompt_ranges = ranges_from(s.at("prompt_ranges")),
            .prompts = s.at("prompts").get<int64_t>(),
            .tokens = s.at("tokens").get<int64_t>(),
            .bytes = s.at("bytes").get<uint64_t>(),
            .sha256 = s.at("sha256").get<std::string>()};
}

json manifest_json(const DatasetManifest& manifest) {
    json out = identity_json(manifest.identity);
    out["format"] = kDatasetFormat;
    out["hook_points"] = manifest.hook_points;
    json shards = json::array();
    for (const ShardRecord& s : manifest.shards)
        shards.push_back(shard_json(s));
    out["shards"] = shards;
    out["totals"] = {{"prompts", manifest.prompts},
                     {"tokens", manifest.tokens},
                     {"cut_prompts", manifest.cut_prompts},
                     {"shards", manifest.shards.size()}};
    return out;
}

void write_manifest(const fs::path& folder, const DatasetManifest& manifest) {
    write_text_atomically(folder / kManifestName, manifest_json(manifest).dump(2) + "\n");
}

std::optional<DatasetManifest> read_manifest(const fs::path& folder) {
    const fs::path path = folder / kManifestName;
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const json value = json::parse(text.str(), nullptr, false);
    if (!in || value.is_discarded() || !value.is_object()) throw InputError(path.string() + " is not a JSON object");
    if (value.value("format", "") != kDatasetFormat) {
        throw InputError(path.string() + " is not a dataset manifest: its format is not " + kDatasetFormat);
    }
    DatasetManifest manifest;
    const char* key = "";
    try {
        DatasetIdentity& id = manifest.identity;
        id.model = value.at(key = "model").get<std::string>();
        id.model_fingerprint = value.at(key = "model_fingerprint").get<std::string>();
        id.names_filter = value.at(key = "names_filter").get<std::string>();
        id.options = value.at(key = "options");
        id.prompts_file = value.at(key = "prompts_file").get<std::string>();
        id.prompts_sha256 = value.at(key = "prompts_sha256").get<std::string>();
        id.world_size = value.at(key = "world_size").get<int>();
        manifest.hook_points = value.at(key = "hook_points");
        for (const json& s : value.at(key = "shards")) {
            key = "shards";
            manifest.shards.push_back(shard_from_json(s));
        }
        const json& totals = value.at(key = "totals");
        manifest.prompts = totals.at("prompts").get<int64_t>();
        manifest.tokens = totals.at("tokens").get<int64_t>();
        manifest.cut_prompts = totals.at("cut_prompts").get<int64_t>();
    } catch (const json::exception& e) {
        throw InputError(path.string() + ": field `" + key + "` is missing or malformed (" + e.what() + ")");
    }
    return manifest;
}

std::vector<ShardRecord> finished_shards(const fs::path& folder, int rank, const DatasetIdentity& identity,
                                         const std::vector<int64_t>& order) {
    const auto manifest = read_manifest(folder);
    if (manifest) {
        if (const auto difference = identity_difference(manifest->identity, identity)) {
            throw InputError(folder.string() + " holds a dataset made differently (" + *difference +
                             "); collect into another folder or remove it");
        }
    }
    std::vector<ShardRecord> kept;
    std::size_t covered = 0; // prompts of `order` the kept shards hold
    for (int index = 0;; ++index) {
        const std::string name = shard_file_name(rank, index);
        const fs::path path = folder / name;
        std::error_code ec;
        if (!fs::exists(path, ec)) break;
        std::shared_ptr<const SafetensorsFile> file;
        try {
            file = SafetensorsFile::open(path);
        } catch (const Error&) {
            break; // unreadable: redone
        }
        if (const auto difference = identity_difference(shard_identity(*file), identity)) {
            throw InputError(path.string() + " was made differently (" + *difference +
                             "); collect into another folder or remove it");
        }
        ShardRecord shard;
        shard.file = name;
        shard.rank = rank;
        const auto ranges = file->metadata().find("prompt_ranges");
        if (ranges == file->metadata().end()) break;
        try {
            shard.prompt_ranges = ranges_from(json::parse(ranges->second));
        } catch (const json::exception&) {
            break; // unreadable: redone
        }
        bool follows = true;
        for (const auto& [first, end] : shard.prompt_ranges) {
            for (int64_t p = first; p < end && follows; ++p)
                follows = covered < order.size() && order[covered++] == p;
            shard.prompts += end - first;
        }
        const TensorInfo* ids = file->find("token_ids");
        if (!follows || !ids || ids->shape.size() != 1) break;
        shard.tokens = ids->shape[0];
        shard.bytes = file->file_size();
        const auto sha = file_sha256(path);
        if (!sha) break;
        shard.sha256 = *sha;
        if (manifest) {
            const auto listed = std::find_if(manifest->shards.begin(), manifest->shards.end(),
                                             [&](const ShardRecord& s) { return s.file == name; });
            if (listed != manifest->shards.end() && listed->sha256 != shard.sha256) break;
        }
        kept.push_back(std::move(shard));
    }
    return kept;
}

} // namespace hookscope
