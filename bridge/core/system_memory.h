#pragma once
// How much memory the machine can still give, and byte counts as people read and
// write them. Free of LibTorch.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookscope {

// Memory the system can still give without swapping (MemAvailable in /proc/meminfo),
// plus what this process holds for reuse (see set_memory_held_for_reuse), or nullopt
// where unknown.
std::optional<uint64_t> available_memory_bytes();

// This process's resident memory now (VmRSS) and at its peak so far (VmHWM), from
// /proc/self/status; nullopt where unknown.
std::optional<uint64_t> resident_bytes();
std::optional<uint64_t> peak_resident_bytes();

// Names the count of bytes this process keeps mapped for reuse, freed but not given
// back to the system (the tensor block pool): available_memory_bytes() counts them as
// available, since they serve the process's next allocations.
void set_memory_held_for_reuse(std::size_t (*held)());

// Anonymous memory of at least `bytes`, zeroed, starting on a 2 MiB boundary, with the
// system asked to back it with transparent huge pages (madvise MADV_HUGEPAGE; where THP
// is off, it is plain memory). Streaming through weights on 4 KiB pages costs a TLB miss
// every 4 KiB, and the hardware prefetchers stop at every page boundary: decoding
// GPT-2 small in bfloat16 measured 85 tokens/s on 4 KiB pages and 96 on huge pages.
// The memory is faulted in (and zeroed) as it is first written.
// Throws std::bad_alloc when the system has no room. Give it back with
// unmap_huge_pages(p, bytes).
void* map_huge_pages(std::size_t bytes);
void unmap_huge_pages(void* p, std::size_t bytes);

// A byte count in decimal units with one decimal: "512 B", "12.0 MB", "3.2 GB".
std::string byte_size_text(uint64_t bytes);

// A size as a user writes it: a number with an optional decimal unit K, M, G or T
// (1000-based, case-insensitive, an optional trailing B): "4096", "500M", "1.5GB".
// nullopt when it is not one (negative, not a number, an unknown unit, past 2^64).
std::optional<uint64_t> parse_byte_size(std::string_view text);

} // namespace hookscope
