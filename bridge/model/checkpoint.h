#pragma once
// A Hugging Face checkpoint folder: config.json plus model.safetensors, or shards
// listed by model.safetensors.index.json. Pickled files (*.bin, *.pt) are never
// loaded: unpickling can run arbitrary code.

#include "bridge/model/safetensors.h"
#include "bridge/model/weights.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class Checkpoint final : public WeightSource {
public:
    // Opens and validates every safetensors file of `folder`, and checks that the
    // weights fit in memory at `precision`. Throws CheckpointError.
    static Checkpoint open(const std::filesystem::path& folder, Precision precision = Precision::Float32);

    const std::filesystem::path& folder() const { return folder_; }
    bool contains(std::string_view name) const override { return where_.find(name) != where_.end(); }
    std::vector<std::string> names() const;

    void release_bytes(std::string_view name, std::size_t offset, std::size_t bytes) const override;

    // SHA-256 over each file's name, size and JSON header: identifies the weights
    // without reading them.
    const std::string& fingerprint() const override { return fingerprint_; }

    // Bytes the weights take once converted for `precision` (see compute_type()).
    std::uintmax_t compute_bytes(Precision precision) const;
    // The storage types of the weights, e.g. "BF16" or "F16, F32".
    std::string storage_dtypes() const;

protected:
    // The tensor converted to its compute type, checked against the shape the config
    // implies (checked_weight, the file's pages released as a conversion goes). Throws
    // CheckpointError when it is missing or has another shape.
    at::Tensor load_weight(std::string_view name, const std::vector<int64_t>& shape, WeightUse use) const override;

private:
    std::filesystem::path folder_;
    std::vector<std::shared_ptr<const SafetensorsFile>> files_;
    std::map<std::string, const SafetensorsFile*, std::less<>> where_;
    std::string fingerprint_;
};

// Throws CheckpointError when `needed` bytes (of weights at `precision`) exceed
// `available`, saying both.
void require_memory(std::uintmax_t needed, std::uintmax_t available, const std::string& what,
                    Precision precision = Precision::Float32);

} // namespace hookscope
