#include "bridge/npz.h"

#include "bridge/atomic_file.h"
#include "bridge/errors.h"

#include <ATen/ATen.h>

#include <array>
#include <cstring>
#include <limits>

namespace hookscope {
namespace {

// A .npy member: header and payload, and the bytes the zip records about it.
struct Member {
    std::string name; // "<key>.npy"
    std::string header;
    const void* data = nullptr;
    uint64_t data_size = 0;
    uint32_t crc = 0;
    uint64_t offset = 0; // of its local header in the archive
    uint64_t size() const { return header.size() + data_size; }
};

uint32_t crc32_update(uint32_t crc, const void* data, std::size_t size) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

std::string numpy_descr(at::ScalarType type) {
    switch (type) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kBool: return "|b1";
    default:
        throw ExportError(std::string("NumPy has no ") + c10::toString(type) +
                          " arrays; export as float32 or use .safetensors");
    }
}

// NPY format 1.0 header (2.0 when the dictionary outgrows 16 bits), padded so the
// data starts on a 64-byte boundary.
std::string npy_header(const std::string& descr, at::IntArrayRef shape) {
    std::string tuple = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        tuple += std::to_string(shape[i]);
        if (shape.size() == 1)
            tuple += ","; // a 1-tuple is "(5,)"
        else if (i + 1 < shape.size())
            tuple += ", ";
    }
    tuple += ")";
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + tuple;
    dict += ", }";
    const bool v2 = dict.size() + 12 > 65535;
    const std::size_t prefix = v2 ? 12 : 10;
    const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
    dict.append(total - prefix - dict.size() - 1, ' ');
    dict += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(v2 ? 2 : 1);
    out += '\0';
    uint64_t n = dict.size();
    for (std::size_t i = 0; i < (v2 ? 4u : 2u); ++i) {
        out += static_cast<char>(n & 0xff);
        n >>= 8;
    }
    return out + dict;
}

void put(std::string& out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out += static_cast<char>(value & 0xff);
        value >>= 8;
    }
}

} // namespace

void write_npz(const std::filesystem::path& path, const NamedTensors& tensors, const std::string& metadata_json) {
    std::vector<at::Tensor> keep;
    std::vector<Member> members;
    std::vector<char32_t> metadata_utf32;
    const auto fail = [&](const std::string& why) { throw ExportError("cannot write " + path.string() + ": " + why); };

    for (const auto& [name, tensor] : tensors) {
        if (name == "__metadata__" || name.size() > 60000) {
            fail("tensor name `" + name.substr(0, 80) + "` is reserved or too long for a zip member");
        }
        at::Tensor t = tensor.to(at::kCPU).contiguous();
        Member m;
        m.name = name + ".npy";
        try {
            m.header = npy_header(numpy_descr(t.scalar_type()), t.sizes());
        } catch (const ExportError& e) {
            fail("tensor `" + name + "`: " + e.what());
        }
        m.data = t.data_ptr();
        m.data_size = static_cast<uint64_t>(t.numel()) * t.element_size();
        members.push_back(std::move(m));
        keep.push_back(std::move(t));
    }
    if (!metadata_json.empty()) {
        // NumPy's unicode arrays are UTF-32; decode the UTF-8 JSON text.
        for (std::size_t i = 0; i < metadata_json.size();) {
            const auto c = static_cast<unsigned char>(metadata_json[i]);
            const int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            char32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
            for (int k = 1; k < len && i + k < metadata_json.size(); ++k) {
                cp = (cp << 6) | (static_cast<unsigned char>(metadata_json[i + k]) & 0x3F);
            }
            metadata_utf32.push_back(cp);
            i += static_cast<std::size_t>(len);
        }
        Member m;
        m.name = "__metadata__.npy";
        m.header = npy_header("<U" + std::to_string(std::max<std::size_t>(metadata_utf32.size(), 1)), {});
        m.data = metadata_utf32.data();
        m.data_size = metadata_utf32.size() * sizeof(char32_t);
        if (metadata_utf32.empty()) {
            static const char32_t zero = 0;
            m.data = &zero;
            m.data_size = sizeof zero;
        }
        members.push_back(std::move(m));
    }

    uint64_t offset = 0;
    for (Member& m : members) {
        m.crc = crc32_update(crc32_update(0, m.header.data(), m.header.size()), m.data, m.data_size);
        m.offset = offset;
        offset += 30 + m.name.size() + m.size();
    }
    if (offset >= std::numeric_limits<uint32_t>::max() || members.size() >= 0xFFFF) {
        fail("the arrays total more than 4 GiB (or 65535 arrays), beyond a plain zip; export to .safetensors");
    }

    write_file_atomically(path, [&](ByteSink& out) {
        const auto header = [](const Member& m, bool central) {
            std::string h;
            put(h, central ? 0x02014b50 : 0x04034b50, 4);
            if (central) put(h, 20, 2); // version made by
            put(h, 20, 2);              // version needed: 2.0
            put(h, 0, 2);               // flags
            put(h, 0, 2);               // stored, no compression
            put(h, 0, 2);               // time
            put(h, 0x21, 2);            // date: 1980-01-01
            put(h, m.crc, 4);
            put(h, m.size(), 4);
            put(h, m.size(), 4);
            put(h, m.name.size(), 2);
            put(h, 0, 2); // extra field length
            if (central) {
                put(h, 0, 2); // comment length
                put(h, 0, 2); // disk number
                put(h, 0, 2); // internal attributes
                put(h, 0, 4); // external attributes
                put(h, m.offset, 4);
            }
            return h + m.name;
        };
        for (const Member& m : members) {
            out.write(header(m, false));
            out.write(m.header);
            out.write(m.data, m.data_size);
        }
        std::string directory;
        for (const Member& m : members)
            directory += header(m, true);
        std::string end;
        put(end, 0x06054b50, 4);
        put(end, 0, 2);
        put(end, 0, 2);
        put(end, members.size(), 2);
        put(end, members.size(), 2);
        put(end, directory.size(), 4);
        put(end, offset, 4);
        put(end, 0, 2);
        out.write(directory);
        out.write(end);
    });
}

} // namespace hookscope
