#pragma once
// SHA-256 (FIPS 180-4), used to fingerprint checkpoints.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace hookscope {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    std::string hex_digest(); // finishes the hash; 64 lowercase hex digits

private:
    void block(const unsigned char* p);
    std::array<uint32_t, 8> state_;
    std::array<unsigned char, 64> buffer_{};
    std::size_t buffered_ = 0;
    uint64_t length_ = 0; // bytes hashed
};

// The hex digest of a whole file's bytes; nullopt when it cannot be read.
std::optional<std::string> file_sha256(const std::filesystem::path& path);

} // namespace hookscope
