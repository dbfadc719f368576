#pragma once
// Reading and writing the safetensors format
// (8-byte little-endian header length, JSON header, then one flat data buffer).
//
// Reading maps the file and validates every promise the header makes (see
// safetensors_header.h) before any tensor is touched: a malformed file is refused with a CheckpointError that names
// the file and the problem, never a crash.

#include "bridge/formats/safetensors_header.h"
#include "bridge/model/named_tensors.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookscope {

at::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(at::ScalarType type); // throws Error for types safetensors lacks

// A read-only (copy-on-write) memory mapping of a whole file.
class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path); // throws CheckpointError
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    std::byte* mutable_data() { return data_; } // private mapping: writes never reach the file
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
public:
    // Maps and validates `path`. Throws CheckpointError naming the file and the problem.
    static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return file_->path(); }
    std::size_t file_size() const { return file_->size(); }
    // The JSON header exactly as stored (used to fingerprint checkpoints).
    std::string_view header_text() const;

    // Tensors in the order of their byte ranges.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(std::string_view name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The tensor in its stored dtype. A view over the mapping when the data is
    // aligned (it keeps the mapping alive), otherwise a copy. Throws CheckpointError
    // when `name` is absent.
    at::Tensor tensor(std::string_view name) const;

    // Hands the memory pages of bytes [offset, offset + bytes) of tensor `name`'s data
    // back to the system (whole pages inside the range only, so neighbours keep theirs).
    // Reading them again reads the file again. For a tensor converted to another type
    // as it loads: the process then never holds both copies of it.
    void release(std::string_view name, std::size_t offset, std::size_t bytes) const;

private:
    SafetensorsFile() = default;
    void parse();

    std::shared_ptr<MappedFile> file_;
    uint64_t header_length_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any device, any layout; stored contiguous, in the given order,
// without gaps) and string `metadata` to `path` atomically: a temporary file in the
// same folder renamed over the destination. On failure the destination is untouched
// and no temporary file is left. Throws ExportError.
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

} // namespace hookscope
