#include "bridge/safetensors.h"

#include "bridge/atomic_file.h"
#include "bridge/errors.h"

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

// Real headers are kilobytes; anything this large is a corrupt length prefix.
constexpr uint64_t kMaxHeaderLength = 100ull << 20;

struct DTypeRow {
    DType dtype;
    std::string_view name;
    std::size_t size;
    at::ScalarType scalar;
};

constexpr std::array<DTypeRow, 9> kDTypes{{
    {DType::F64, "F64", 8, at::kDouble},
    {DType::F32, "F32", 4, at::kFloat},
    {DType::F16, "F16", 2, at::kHalf},
    {DType::BF16, "BF16", 2, at::kBFloat16},
    {DType::I64, "I64", 8, at::kLong},
    {DType::I32, "I32", 4, at::kInt},
    {DType::I8, "I8", 1, at::kChar},
    {DType::U8, "U8", 1, at::kByte},
    {DType::Bool, "BOOL", 1, at::kBool},
}};

const DTypeRow& row(DType dtype) {
    return kDTypes[static_cast<std::size_t>(dtype)];
}

} // namespace

std::string shape_text(at::IntArrayRef shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

std::string_view dtype_name(DType dtype) {
    return row(dtype).name;
}
std::size_t dtype_size(DType dtype) {
    return row(dtype).size;
}
at::ScalarType to_scalar_type(DType dtype) {
    return row(dtype).scalar;
}

DType from_scalar_type(at::ScalarType type) {
    for (const auto& r : kDTypes) {
        if (r.scalar == type) return r.dtype;
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
    const std::string where = file_->path().string() + ": ";
    const auto fail = [&](const std::string& why) { throw CheckpointError(where + why); };
    const uint64_t size = file_->size();
    if (size < 8) {
        fail("file is " + std::to_string(size) +
             " bytes, too short for the 8-byte header length of a safetensors file");
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) {
        n = (n << 8) | std::to_integer<uint64_t>(file_->data()[i]);
    }
    if (n > kMaxHeaderLength) {
        fail("header length " + std::to_string(n) + " is absurd (more than 100 MiB); not a safetensors file?");
    }
    if (n > size - 8) {
        fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
             " bytes)");
    }
    header_length_ = n;
    const uint64_t data_size = size - 8 - n;

    const nlohmann::json header = nlohmann::json::parse(header_text(), nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) fail("header is not valid JSON");
    if (!header.is_object()) fail("header is JSON but not an object");

    for (const auto& [name, entry] : header.items()) {
        const std::string tensor = "tensor `" + name + "`: ";
        if (name == "__metadata__") {
            if (!entry.is_object()) fail("`__metadata__` is not an object");
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string()) fail("`__metadata__` value of `" + key + "` is not a string");
                metadata_[key] = value.get<std::string>();
            }
            continue;
        }
        if (!entry.is_object()) fail(tensor + "entry is not an object");
        TensorInfo info;
        info.name = name;

        const auto dtype = entry.find("dtype");
        if (dtype == entry.end() || !dtype->is_string()) fail(tensor + "missing dtype");
        const std::string dtype_text = dtype->get<std::string>();
        const auto known =
            std::find_if(kDTypes.begin(), kDTypes.end(), [&](const DTypeRow& r) { return r.name == dtype_text; });
        if (known == kDTypes.end()) {
            fail(tensor + "unsupported dtype `" + dtype_text +
                 "` (supported: F64, F32, F16, BF16, I64, I32, I8, U8, BOOL)");
        }
        info.dtype = known->dtype;

        const auto shape = entry.find("shape");
        if (shape == entry.end() || !shape->is_array()) fail(tensor + "missing shape");
        uint64_t elements = 1;
        bool overflow = false;
        for (const auto& dim : *shape) {
            if (!dim.is_number_unsigned()) fail(tensor + "shape has a dimension that is not a non-negative integer");
            const uint64_t d = dim.get<uint64_t>();
            if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
            if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
            elements *= d;
            info.shape.push_back(static_cast<int64_t>(d));
        }
        if (overflow || elements > std::numeric_limits<uint64_t>::max() / known->size) {
            fail(tensor + "shape " + shape_text(info.shape) + " is too large");
        }

        const auto offsets = entry.find("data_offsets");
        if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
            !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
            fail(tensor + "data_offsets must be two non-negative integers");
        }
        info.begin = (*offsets)[0].get<uint64_t>();
        info.end = (*offsets)[1].get<uint64_t>();
        if (info.begin > info.end) {
            fail(tensor + "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                 "] end before they begin");
        }
        if (info.end > data_size) {
            fail(tensor + "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                 "] run past the end of the data (" + std::to_string(data_size) + " bytes)");
        }
        const uint64_t bytes = elements * known->size;
        if (info.end - info.begin != bytes) {
            fail(tensor + "shape " + shape_text(info.shape) + " of " + dtype_text + " needs " + std::to_string(bytes) +
                 " bytes but data_offsets cover " + std::to_string(info.end - info.begin));
        }
        tensors_.push_back(std::move(info));
    }

    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // Empty tensors occupy no bytes and cannot overlap anything; compare each range
    // with the furthest-reaching one before it.
    const TensorInfo* reach = nullptr;
    for (const TensorInfo& next : tensors_) {
        if (next.end == next.begin) continue;
        if (reach && next.begin < reach->end) {
            fail("tensors `" + reach->name + "` and `" + next.name + "` overlap (bytes " + std::to_string(next.begin) +
                 " to " + std::to_string(std::min(reach->end, next.end)) + ")");
        }
        if (!reach || next.end > reach->end) reach = &next;
    }
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
    std::string text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    // Pad with spaces so the data buffer starts 8-byte aligned.
    text.append((8 - text.size() % 8) % 8, ' ');

    write_file_atomically(path, [&](ByteSink& out) {
        std::array<unsigned char, 8> length{};
        uint64_t n = text.size();
        for (auto& byte : length) {
            byte = static_cast<unsigned char>(n & 0xff);
            n >>= 8;
        }
        out.write(length.data(), length.size());
        out.write(text);
        for (const at::Tensor& t : contiguous) {
            out.write(t.data_ptr(), t.numel() * t.element_size());
        }
    });
}

} // namespace hookscope
