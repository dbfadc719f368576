#pragma once
// The central directory of a zip archive (an .npz), read through a callback so that
// the file reader and the fuzzer share it. Free of LibTorch.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

struct ZipMember {
    std::string name;
    uint16_t method = 0; // 0 stored, 8 deflated
    uint32_t crc = 0;
    uint64_t compressed = 0, size = 0, local_offset = 0;
};

// `size` bytes at `offset` of the archive; throws when they are not all there.
using ZipReader = std::function<std::string(uint64_t offset, uint64_t size)>;

// The members the central directory lists (zip64 records and sizes included).
// Throws std::invalid_argument for an archive that is not one or is damaged.
std::vector<ZipMember> zip_members(uint64_t file_size, const ZipReader& read_at);

// Where `member`'s data starts, from the 30 bytes of its local header. Throws
// std::invalid_argument for a damaged header.
uint64_t zip_data_offset(const ZipMember& member, std::string_view local_header);

} // namespace hookscope
