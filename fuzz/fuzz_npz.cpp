// libFuzzer target: an .npz archive's zip directory and the .npy headers of its
// stored members, on arbitrary file contents. Every input is refused with
// std::invalid_argument, or yields members whose data lies inside the file and .npy
// layouts whose data is exactly what the shape and type need.

#include "bridge/formats/npy_header.h"
#include "bridge/formats/zip_directory.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    const auto read_at = [&](uint64_t offset, uint64_t length) {
        if (offset > size || length > size - offset) throw std::invalid_argument("past the end");
        return std::string(file.substr(offset, length));
    };
    try {
        for (const ZipMember& m : zip_members(size, read_at)) {
            const uint64_t start = zip_data_offset(m, read_at(m.local_offset, 30));
            if (m.method != 0) continue; // deflate is zlib's to fuzz
            const std::string bytes = read_at(start, m.size);
            if (start + bytes.size() > size) std::abort();
            try {
                const NpyLayout npy = parse_npy(bytes);
                uint64_t count = 1;
                for (const int64_t d : npy.header.shape)
                    count *= static_cast<uint64_t>(d);
                if (npy.data_offset > bytes.size()) std::abort();
                if (count * static_cast<uint64_t>(npy.element_size) != bytes.size() - npy.data_offset) std::abort();
            } catch (const std::invalid_argument&) {
            }
        }
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
