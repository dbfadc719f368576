#include "bridge/model/safetensors.h"

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/formats/safetensors_header.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hookscope {
namespace {

constexpr std::array<std::pair<DType, at::ScalarType>, 9> kScalarTypes{{
    {DType::F64, at::kDouble},
    {DType::F32, at::kFloat},
    {DType::F16, at::kHalf},
    {DType::BF16, at::kBFloat16},
    {DType::I64, at::kLong},
    {DType::I32, at::kInt},
    {DType::I8, at::kChar},
    {DType::U8, at::kByte},
    {DType::Bool, at::kBool},
}};

} // namespace

at::ScalarType to_scalar_type(DType dtype) {
    return kScalarTypes[static_cast<std::size_t>(dtype)].second;
}

DType from_scalar_type(at::ScalarType type) {
    for (const auto& [dtype, scalar] : kScalarTypes) {
        if (scalar == type) return dtype;
    }
    throw Error(std::string("tensors of type ") + c10::toString(type) + " cannot be stored in safetensors");
}

// ---------------------------------------------------------------------------

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
    // Non-blocking, so that a FIFO or device is refused below instead of hanging here.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        throw CheckpointError(path.string() + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw CheckpointError(path.string() + ": not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
        // Private and writable: a stray in-place op copies a page instead of
        // faulting, and never reaches the file.
        void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const std::string reason = std::strerror(errno);
            ::close(fd);
            throw CheckpointError(path.string() + ": cannot map: " + reason);
        }
        data_ = static_cast<std::byte*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(data_, size_);
}

// ---------------------------------------------------------------------------

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->file_ = std::make_shared<MappedFile>(path);
    file->parse();
    return file;
}

std::string_view SafetensorsFile::header_text() const {
    return {reinterpret_cast<const char*>(file_->data()) + 8, header_length_};
}

void SafetensorsFile::parse() {
    SafetensorsHeader header = parse_safetensors_header(file_->data(), file_->size(), file_->path().string());
    header_length_ = header.length;
    tensors_ = std::move(header.tensors);
    metadata_ = std::move(header.metadata);
    for (std::size_t i = 0; i < tensors_.size(); ++i)
        index_.emplace(tensors_[i].name, i);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
    const TensorInfo* info = find(name);
    if (!info) {
        throw CheckpointError(path().string() + ": no tensor `" + std::string(name) + "`");
    }
    const auto options = at::TensorOptions().dtype(to_scalar_type(info->dtype));
    std::byte* begin = file_->mutable_data() + 8 + header_length_ + info->begin;
    const std::size_t bytes = info->end - info->begin;
    if (bytes == 0) return at::empty(info->shape, options);
    if (reinterpret_cast<uintptr_t>(begin) % dtype_size(info->dtype) != 0) {
        at::Tensor copy = at::empty(info->shape, options);
        std::memcpy(copy.data_ptr(), begin, bytes);
        return copy;
    }
    // The deleter owns a reference to the mapping, so the view outlives this object safely.
    std::shared_ptr<MappedFile> keep = file_;
    return at::from_blob(
        begin, info->shape, [keep](void*) mutable { keep.reset(); }, options);
}

void SafetensorsFile::release(std::string_view name, std::size_t offset, std::size_t bytes) const {
    const TensorInfo* info = find(name);
    if (!info || bytes == 0) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(file_->mutable_data() + 8 + header_length_ + info->begin + offset);
    const uintptr_t first = (begin + page - 1) / page * page, last = (begin + bytes) / page * page;
    // Advice only: where the system declines it, the pages simply stay until the file is unmapped.
    if (first < last) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

// ---------------------------------------------------------------------------

void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<at::Tensor> contiguous;
    contiguous.reserve(tensors.size());
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& [name, tensor] : tensors) {
        if (name == "__metadata__" || header.contains(name)) {
            throw ExportError("cannot write " + path.string() + ": duplicate or reserved tensor name `" + name + "`");
        }
        at::Tensor t = tensor.to(at::kCPU).contiguous();
        DType dtype{};
        try {
            dtype = from_scalar_type(t.scalar_type());
        } catch (const Error& e) {
            throw ExportError("cannot write " + path.string() + ": tensor `" + name + "`: " + e.what());
        }
        const uint64_t bytes = t.numel() * dtype_size(dtype);
        header[name] = {
            {"dtype", dtype_name(dtype)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        contiguous.push_back(std::move(t));
    }
    const std::string prefix =
        safetensors_prefix(header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    write_file_atomically(path, [&](ByteSink& out) {
        out.write(prefix);
        for (const at::Tensor& t : contiguous) {
            out.write(t.data_ptr(), t.numel() * t.element_size());
        }
    });
}

} // namespace hookscope
