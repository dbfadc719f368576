#include "bridge/formats/safetensors_header.h"

#include "bridge/core/errors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <limits>

namespace hookscope {
namespace {

// Real headers are kilobytes; anything this large is a corrupt length prefix.
constexpr uint64_t kMaxHeaderLength = 100ull << 20;

struct DTypeRow {
    DType dtype;
    std::string_view name;
    std::size_t size;
};

constexpr std::array<DTypeRow, 9> kDTypes{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
}};

} // namespace

std::string dims_text(const std::vector<int64_t>& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

std::string_view dtype_name(DType dtype) {
    return kDTypes[static_cast<std::size_t>(dtype)].name;
}

std::size_t dtype_size(DType dtype) {
    return kDTypes[static_cast<std::size_t>(dtype)].size;
}

SafetensorsHeader parse_safetensors_header(const std::byte* data, std::size_t file_size, const std::string& path) {
    SafetensorsHeader out;
    const std::string where = path + ": ";
    const auto fail = [&](const std::string& why) { throw CheckpointError(where + why); };
    const uint64_t size = file_size;
    if (size < 8) {
        fail("file is " + std::to_string(size) +
             " bytes, too short for the 8-byte header length of a safetensors file");
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) {
        n = (n << 8) | std::to_integer<uint64_t>(data[i]);
    }
    if (n > kMaxHeaderLength) {
        fail("header length " + std::to_string(n) + " is absurd (more than 100 MiB); not a safetensors file?");
    }
    if (n > size - 8) {
        fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
             " bytes)");
    }
    out.length = n;
    const uint64_t data_size = size - 8 - n;

    const nlohmann::json header = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data) + 8, n),
                                                        nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) fail("header is not valid JSON");
    if (!header.is_object()) fail("header is JSON but not an object");

    for (const auto& [name, entry] : header.items()) {
        const std::string tensor = "tensor `" + name + "`: ";
        if (name == "__metadata__") {
            if (!entry.is_object()) fail("`__metadata__` is not an object");
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string()) fail("`__metadata__` value of `" + key + "` is not a string");
                out.metadata[key] = value.get<std::string>();
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
            fail(tensor + "shape " + dims_text(info.shape) + " is too large");
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
            fail(tensor + "shape " + dims_text(info.shape) + " of " + dtype_text + " needs " + std::to_string(bytes) +
                 " bytes but data_offsets cover " + std::to_string(info.end - info.begin));
        }
        out.tensors.push_back(std::move(info));
    }

    std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // Empty tensors occupy no bytes and cannot overlap anything; compare each range
    // with the furthest-reaching one before it.
    const TensorInfo* reach = nullptr;
    for (const TensorInfo& next : out.tensors) {
        if (next.end == next.begin) continue;
        if (reach && next.begin < reach->end) {
            fail("tensors `" + reach->name + "` and `" + next.name + "` overlap (bytes " + std::to_string(next.begin) +
                 " to " + std::to_string(std::min(reach->end, next.end)) + ")");
        }
        if (!reach || next.end > reach->end) reach = &next;
    }
    return out;
}

std::string safetensors_prefix(std::string header_json) {
    header_json.append((8 - header_json.size() % 8) % 8, ' ');
    std::string prefix(8, '\0');
    uint64_t n = header_json.size();
    for (char& byte : prefix) {
        byte = static_cast<char>(n & 0xff);
        n >>= 8;
    }
    return prefix + header_json;
}

} // namespace hookscope
