// Which instruction set the kernels use (the CPU's best, capped by HOOKSCOPE_KERNELS or
// cap_level), whether one-position products take them, and their thread count.

#include "bridge/model/kernels/kernels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/spin_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace hookscope::kernels {
namespace {

// An unreadable HOOKSCOPE_KERNELS caps nothing here; the command line and the tests
// report it (level_from_environment).
Level initial_cap() {
    try {
        return level_from_environment().value_or(Level::Avx512);
    } catch (const std::invalid_argument&) {
        return Level::Avx512;
    }
}

std::atomic<Level> level_cap{initial_cap()};
std::atomic<bool> decode_kernels{true};

} // namespace

void set_threads(int threads) {
    SpinPool::instance().resize(threads);
}
int threads() {
    return SpinPool::instance().size();
}
void enable_decode_kernels(bool enabled) {
    decode_kernels.store(enabled);
}
bool decode_kernels_enabled() {
    return decode_kernels.load();
}

Level cpu_level() {
#if defined(__x86_64__)
    static const Level level = __builtin_cpu_supports("avx512f")                                 ? Level::Avx512
                               : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? Level::Avx2
                                                                                                 : Level::Portable;
    return level;
#else
    return Level::Portable;
#endif
}

bool prefetch_into_l2_too() {
#if defined(__x86_64__)
    static const bool two_levels = !__builtin_cpu_is("amd");
    return two_levels;
#else
    return false;
#endif
}

Level level() {
    return std::min(cpu_level(), level_cap.load());
}

std::optional<Level> level_from_environment() {
    const char* value = std::getenv("HOOKSCOPE_KERNELS");
    if (!value || !*value) return std::nullopt;
    for (const Level l : {Level::Portable, Level::Avx2, Level::Avx512}) {
        if (std::strcmp(value, level_name(l)) == 0) return l;
    }
    throw std::invalid_argument(std::string("HOOKSCOPE_KERNELS is `") + value +
                                "`; it caps the CPU kernels at portable, avx2 or avx512");
}
void cap_level(Level cap) {
    level_cap.store(cap);
}
const char* level_name(Level l) {
    switch (l) {
    case Level::Portable: return "portable";
    case Level::Avx2: return "avx2";
    case Level::Avx512: return "avx512";
    }
    return "?";
}

} // namespace hookscope::kernels
