#include "bridge/core/system_memory.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <new>

#include <sys/mman.h>

namespace hookscope {

namespace {
std::atomic<std::size_t (*)()> held_for_reuse{nullptr};
} // namespace

void set_memory_held_for_reuse(std::size_t (*held)()) {
    held_for_reuse = held;
}

std::optional<uint64_t> available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit) {
        if (key == "MemAvailable:") {
            const auto held = held_for_reuse.load();
            return kib * 1024 + (held ? held() : 0);
        }
    }
    return std::nullopt;
}

namespace {

std::optional<uint64_t> status_bytes(const std::string& field) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind(field, 0) != 0) continue;
        uint64_t kib = 0;
        const char* first = line.data() + field.size();
        while (*first == ' ' || *first == '\t')
            ++first;
        if (std::from_chars(first, line.data() + line.size(), kib).ec != std::errc()) return std::nullopt;
        return kib * 1024;
    }
    return std::nullopt;
}

} // namespace

std::optional<uint64_t> resident_bytes() {
    return status_bytes("VmRSS:");
}

std::optional<uint64_t> peak_resident_bytes() {
    return status_bytes("VmHWM:");
}

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kPage = 4096;

std::size_t mapped_length(std::size_t bytes) {
    return (std::max<std::size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
}
} // namespace

void* map_huge_pages(std::size_t bytes) {
    const std::size_t length = mapped_length(bytes);
    // Map a huge page more than asked, then cut back to the aligned part.
    void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) ::munmap(raw, aligned - base);
    const uintptr_t end = base + length + kHugePage;
    if (end > aligned + length) ::munmap(reinterpret_cast<void*>(aligned + length), end - (aligned + length));
        // Advice only: where the system declines it, the memory is simply on small pages.
#ifdef MADV_HUGEPAGE
    (void)::madvise(reinterpret_cast<void*>(aligned), length, MADV_HUGEPAGE);
#endif
    return reinterpret_cast<void*>(aligned);
}

void unmap_huge_pages(void* p, std::size_t bytes) {
    if (p) ::munmap(p, mapped_length(bytes));
}

std::string byte_size_text(uint64_t bytes) {
    if (bytes < 1000) return std::to_string(bytes) + " B";
    constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
    double value = static_cast<double>(bytes);
    int unit = -1;
    while (value >= 999.95 && unit < 5) { // 999,960 bytes is "1.0 MB", not "1000.0 KB"
        value /= 1000;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
    return text;
}

std::optional<uint64_t> parse_byte_size(std::string_view text) {
    double number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || !std::isfinite(number) || number < 0) return std::nullopt;
    std::string unit(end, text.data() + text.size());
    for (char& c : unit)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (unit.size() == 2 && unit[1] == 'B') unit.pop_back();
    double scale = 1;
    if (unit == "K") {
        scale = 1e3;
    } else if (unit == "M") {
        scale = 1e6;
    } else if (unit == "G") {
        scale = 1e9;
    } else if (unit == "T") {
        scale = 1e12;
    } else if (!unit.empty() && unit != "B") {
        return std::nullopt;
    }
    const double bytes = std::round(number * scale);
    if (bytes >= 18446744073709551616.0) return std::nullopt; // 2^64
    return static_cast<uint64_t>(bytes);
}

} // namespace hookscope
