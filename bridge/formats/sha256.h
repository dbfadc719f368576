#pragma once
// SHA-256 (FIPS 180-4): checkpoint fingerprints, dataset shards, intervention files.
// On x86-64 CPUs with the SHA extensions (Intel since Ice Lake and Goldmont, AMD since
// Zen) the blocks run on those instructions, several times faster than the portable
// rounds; HOOKSCOPE_KERNELS=portable keeps the portable rounds (as for every kernel).

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
    void blocks(const unsigned char* p, std::size_t count);
    std::array<uint32_t, 8> state_;
    std::array<unsigned char, 64> buffer_{};
    std::size_t buffered_ = 0;
    uint64_t length_ = 0; // bytes hashed
};

// The hex digest of a whole file's bytes; nullopt when it cannot be read.
std::optional<std::string> file_sha256(const std::filesystem::path& path);

namespace sha256_detail {
// The compression function over `count` 64-byte blocks, each way; the SHA-extension
// one only where sha_extensions_available() (tests compare the two).
void portable_blocks(uint32_t* state, const unsigned char* p, std::size_t count);
void extension_blocks(uint32_t* state, const unsigned char* p, std::size_t count);
bool sha_extensions_available();
// What Sha256 uses: the extensions when available and HOOKSCOPE_KERNELS is not "portable".
bool uses_sha_extensions();
} // namespace sha256_detail

} // namespace hookscope
