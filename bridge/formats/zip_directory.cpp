#include "bridge/formats/zip_directory.h"

#include <algorithm>
#include <stdexcept>

namespace hookscope {
namespace {

uint64_t get(std::string_view bytes, std::size_t at, int size) {
    if (at + static_cast<std::size_t>(size) > bytes.size()) throw std::invalid_argument("a truncated zip record");
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
    return v;
}

} // namespace

std::vector<ZipMember> zip_members(uint64_t file_size, const ZipReader& read_at) {
    // The end of central directory record, within the last 64 KiB + 22 bytes.
    const uint64_t tail_size = std::min<uint64_t>(file_size, 65535 + 22);
    const std::string tail = read_at(file_size - tail_size, tail_size);
    std::size_t end = std::string::npos;
    for (std::size_t i = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; i-- > 0;) {
        if (get(tail, i, 4) == 0x06054b50) {
            end = i;
            break;
        }
    }
    if (end == std::string::npos) throw std::invalid_argument("not a zip archive (an .npz from np.savez)");
    uint64_t entries = get(tail, end + 10, 2), directory_size = get(tail, end + 12, 4),
             directory_offset = get(tail, end + 16, 4);
    if (directory_offset == 0xFFFFFFFF || entries == 0xFFFF) { // zip64: its locator sits before
        if (end < 20 || get(tail, end - 20, 4) != 0x07064b50) {
            throw std::invalid_argument("a zip64 archive without its locator");
        }
        const std::string record = read_at(get(tail, end - 20 + 8, 8), 56);
        if (get(record, 0, 4) != 0x06064b50) throw std::invalid_argument("a damaged zip64 end record");
        entries = get(record, 32, 8);
        directory_size = get(record, 40, 8);
        directory_offset = get(record, 48, 8);
    }
    const std::string directory = read_at(directory_offset, directory_size);
    std::vector<ZipMember> members;
    std::size_t at = 0;
    for (uint64_t k = 0; k < entries; ++k) {
        if (at + 46 > directory.size() || get(directory, at, 4) != 0x02014b50) {
            throw std::invalid_argument("a damaged zip directory");
        }
        ZipMember m;
        m.method = static_cast<uint16_t>(get(directory, at + 10, 2));
        m.crc = static_cast<uint32_t>(get(directory, at + 16, 4));
        m.compressed = get(directory, at + 20, 4);
        m.size = get(directory, at + 24, 4);
        const std::size_t name_length = get(directory, at + 28, 2), extra_length = get(directory, at + 30, 2),
                          comment_length = get(directory, at + 32, 2);
        m.local_offset = get(directory, at + 42, 4);
        if (at + 46 + name_length + extra_length + comment_length > directory.size()) {
            throw std::invalid_argument("a damaged zip directory");
        }
        m.name = directory.substr(at + 46, name_length);
        // Zip64 sizes and offset, in that order, for the fields set to all ones.
        const std::size_t extra_end = at + 46 + name_length + extra_length;
        for (std::size_t x = at + 46 + name_length; x + 4 <= extra_end;) {
            const uint64_t id = get(directory, x, 2), size = get(directory, x + 2, 2);
            std::size_t field = x + 4;
            if (id == 1) {
                for (uint64_t* v : {&m.size, &m.compressed, &m.local_offset}) {
                    if (*v == 0xFFFFFFFF && field + 8 <= std::min<std::size_t>(x + 4 + size, extra_end)) {
                        *v = get(directory, field, 8);
                        field += 8;
                    }
                }
            }
            x += 4 + size;
        }
        at += 46 + name_length + extra_length + comment_length;
        members.push_back(std::move(m));
    }
    return members;
}

uint64_t zip_data_offset(const ZipMember& member, std::string_view local_header) {
    if (get(local_header, 0, 4) != 0x04034b50) throw std::invalid_argument("a damaged zip entry");
    return member.local_offset + 30 + get(local_header, 26, 2) + get(local_header, 28, 2);
}

} // namespace hookscope
