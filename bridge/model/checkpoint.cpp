#include "bridge/model/checkpoint.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/core/system_memory.h"
#include "bridge/formats/sha256.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

namespace hookscope {
namespace {

namespace fs = std::filesystem;

// Shard file names from model.safetensors.index.json, validated to stay in the folder.
std::vector<std::string> shard_names(const fs::path& index_file) {
    const nlohmann::json j = read_json_file(index_file);
    const std::string where = index_file.string() + ": ";
    if (!j.is_object()) throw CheckpointError(where + "not a JSON object");
    const auto map = j.find("weight_map");
    if (map == j.end() || !map->is_object()) throw CheckpointError(where + "no `weight_map` object");
    std::set<std::string> files;
    for (const auto& [tensor, file] : map->items()) {
        if (!file.is_string()) throw CheckpointError(where + "weight_map entry `" + tensor + "` is not a file name");
        const std::string name = file.get<std::string>();
        if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
            name == "." || name == "..") {
            throw CheckpointError(where + "weight_map entry `" + tensor + "` names `" + name +
                                  "`, which is not a file in the checkpoint folder");
        }
        files.insert(name);
    }
    return {files.begin(), files.end()};
}

bool has_pickled_weights(const fs::path& folder) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string ext = entry.path().extension().string();
        if (ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt") return true;
    }
    return false;
}

} // namespace

Checkpoint Checkpoint::open(const fs::path& folder, Precision precision) {
    Checkpoint c;
    c.set_precision(precision);
    c.folder_ = folder;
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) throw CheckpointError(folder.string() + ": not a folder");

    std::vector<std::string> files;
    if (fs::exists(folder / "model.safetensors.index.json", ec)) {
        files = shard_names(folder / "model.safetensors.index.json");
    } else if (fs::exists(folder / "model.safetensors", ec)) {
        files = {"model.safetensors"};
    } else if (has_pickled_weights(folder)) {
        throw CheckpointError(folder.string() +
                              ": only pickled PyTorch weights (*.bin/*.pt) found; HookScope does not load "
                              "pickles, which can run code. Convert the checkpoint to safetensors first.");
    } else {
        throw CheckpointError(folder.string() + ": no model.safetensors or model.safetensors.index.json");
    }

    Sha256 hash;
    for (const std::string& name : files) {
        auto file = SafetensorsFile::open(folder / name);
        hash.update(name + "\n" + std::to_string(file->file_size()) + "\n");
        hash.update(file->header_text());
        for (const TensorInfo& info : file->tensors()) {
            if (!c.where_.emplace(info.name, file.get()).second) {
                throw CheckpointError(folder.string() + ": tensor `" + info.name + "` appears in two files");
            }
        }
        c.files_.push_back(std::move(file));
    }
    c.fingerprint_ = hash.hex_digest();
    // Refuse a model that cannot fit before reading (and converting) gigabytes of it.
    if (const auto available = available_memory_bytes()) {
        require_memory(c.compute_bytes(precision), *available,
                       folder.string() + " (" + c.storage_dtypes() + " weights)", precision);
    }
    return c;
}

std::uintmax_t Checkpoint::compute_bytes(Precision precision) const {
    std::uintmax_t bytes = 0;
    for (const auto& file : files_) {
        for (const TensorInfo& info : file->tensors()) {
            std::uintmax_t elements = 1;
            for (const int64_t d : info.shape)
                elements *= static_cast<std::uintmax_t>(d);
            const auto rank = static_cast<int64_t>(info.shape.size());
            bytes += elements * (compute_type(precision, rank) == at::kBFloat16 ? 2 : 4);
        }
    }
    return bytes;
}

std::string Checkpoint::storage_dtypes() const {
    std::set<std::string> names;
    for (const auto& file : files_) {
        for (const TensorInfo& info : file->tensors())
            names.insert(std::string(dtype_name(info.dtype)));
    }
    std::string out;
    for (const std::string& name : names)
        out += (out.empty() ? "" : ", ") + name;
    return out;
}

void require_memory(std::uintmax_t needed, std::uintmax_t available, const std::string& what, Precision precision) {
    if (needed <= available) return;
    throw CheckpointError(what + ": the model needs " + byte_size_text(needed) + " of memory in " +
                          std::string(precision_name(precision)) + ", and only " + byte_size_text(available) +
                          " is available");
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    for (const auto& entry : where_)
        out.push_back(entry.first);
    return out;
}

at::Tensor Checkpoint::load_weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use) const {
    const auto it = where_.find(name);
    if (it == where_.end()) {
        throw CheckpointError(folder_.string() + ": tensor `" + std::string(name) + "` is missing from the checkpoint");
    }
    const SafetensorsFile& file = *it->second;
    return checked_weight(
        file.tensor(name), name, shape, file.path().string(), precision(), warnings_sink(),
        [&](std::size_t offset, std::size_t bytes) { file.release(name, offset, bytes); }, use);
}

void Checkpoint::release_bytes(std::string_view name, std::size_t offset, std::size_t bytes) const {
    const auto it = where_.find(name);
    if (it == where_.end()) return;
    if (const TensorInfo* info = it->second->find(name)) {
        const std::size_t size = info->end - info->begin;
        if (offset < size) it->second->release(name, offset, std::min(bytes, size - offset));
    }
}

} // namespace hookscope
