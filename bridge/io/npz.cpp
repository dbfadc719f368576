#include "bridge/io/npz.h"

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/formats/npy_header.h"
#include "bridge/formats/zip_directory.h"
#include "bridge/text/unicode.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <zlib.h>

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

namespace {

at::ScalarType scalar_type_of(const std::string& descr) {
    if (descr == "<f4") return at::kFloat;
    if (descr == "<f8") return at::kDouble;
    if (descr == "<f2") return at::kHalf;
    if (descr == "<i8") return at::kLong;
    if (descr == "<i4") return at::kInt;
    if (descr == "<i2") return at::kShort;
    if (descr == "|i1") return at::kChar;
    if (descr == "|u1") return at::kByte;
    return at::kBool; // "|b1"; npy_element_size() has vetted the rest
}

// NumPy's UTF-32 text (NUL-padded) as UTF-8.
std::string utf8_of_utf32(const char* data, std::size_t bytes) {
    std::string out;
    for (std::size_t i = 0; i + 4 <= bytes; i += 4) {
        uint32_t cp = 0;
        std::memcpy(&cp, data + i, 4);
        if (cp == 0) break;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) cp = 0xFFFD;
        unicode::append_utf8(out, cp);
    }
    return out;
}

} // namespace

NpzContents read_npz(const std::filesystem::path& path) {
    const auto fail = [&](const std::string& why) -> SessionError { return SessionError(path.string() + ": " + why); };
    std::ifstream file(path, std::ios::binary);
    if (!file) throw fail("cannot be opened");
    file.seekg(0, std::ios::end);
    const auto file_size = static_cast<uint64_t>(file.tellg());
    const auto read_at = [&](uint64_t offset, uint64_t size) {
        if (offset > file_size || size > file_size - offset) throw fail("a zip record points past the end");
        std::string bytes(size, '\0');
        file.seekg(static_cast<std::streamoff>(offset));
        file.read(bytes.data(), static_cast<std::streamsize>(size));
        if (!file) throw fail("cannot be read");
        return bytes;
    };

    std::vector<ZipMember> list;
    try {
        list = zip_members(file_size, read_at);
    } catch (const std::invalid_argument& e) {
        throw fail(e.what());
    }

    NpzContents out;
    for (const ZipMember& e : list) {
        const std::string where = "member `" + e.name + "`: ";
        if (e.name.size() < 4 || e.name.substr(e.name.size() - 4) != ".npy") {
            throw fail(where + "not a .npy array");
        }
        uint64_t data_offset = 0;
        try {
            data_offset = zip_data_offset(e, read_at(e.local_offset, 30));
        } catch (const std::invalid_argument& error) {
            throw fail(where + error.what());
        }
        std::string bytes;
        if (e.method == 0) {
            bytes = read_at(data_offset, e.size);
        } else if (e.method == 8) {
            const std::string packed = read_at(data_offset, e.compressed);
            if (e.size > e.compressed * 1032 + 1024) throw fail(where + "inflates past any deflate ratio");
            bytes.assign(e.size, '\0');
            z_stream z{};
            if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw fail(where + "zlib cannot start");
            z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
            z.avail_in = static_cast<uInt>(packed.size());
            z.next_out = reinterpret_cast<Bytef*>(bytes.data());
            z.avail_out = static_cast<uInt>(bytes.size());
            const int status = inflate(&z, Z_FINISH);
            const uint64_t produced = z.total_out;
            inflateEnd(&z);
            if (status != Z_STREAM_END || produced != e.size) throw fail(where + "damaged compressed data");
        } else {
            throw fail(where + "compressed with zip method " + std::to_string(e.method) +
                       " (np.savez and np.savez_compressed use 0 and 8)");
        }
        if (crc32_update(0, bytes.data(), bytes.size()) != e.crc) throw fail(where + "its CRC does not match");

        // The .npy inside: magic, version, header, data of the size its shape says.
        NpyLayout npy;
        try {
            npy = parse_npy(bytes);
        } catch (const std::invalid_argument& error) {
            throw fail(where + error.what());
        }
        const NpyHeader& header = npy.header;
        const std::size_t data_start = npy.data_offset;
        const std::string key = e.name.substr(0, e.name.size() - 4);
        if (header.descr[1] == 'U') {
            if (key != "__metadata__" || !header.shape.empty()) throw fail(where + "text arrays are not read");
            out.metadata_json = utf8_of_utf32(bytes.data() + data_start, bytes.size() - data_start);
            continue;
        }
        std::vector<int64_t> shape = header.shape;
        if (header.fortran_order) std::reverse(shape.begin(), shape.end());
        at::Tensor t = at::empty(shape, at::TensorOptions().dtype(scalar_type_of(header.descr)));
        std::memcpy(t.data_ptr(), bytes.data() + data_start, bytes.size() - data_start);
        if (header.fortran_order && t.dim() > 1) {
            std::vector<int64_t> reversed(static_cast<std::size_t>(t.dim()));
            for (int64_t i = 0; i < t.dim(); ++i)
                reversed[static_cast<std::size_t>(i)] = t.dim() - 1 - i;
            t = t.permute(reversed).contiguous();
        }
        out.arrays.emplace_back(key, std::move(t));
    }
    return out;
}

} // namespace hookscope
