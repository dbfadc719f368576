#pragma once
// A bfloat16 (its raw 16-bit pattern) as the float32 it is: the top half of the float's
// bits. Exact; shared by every kernel file's scalar loops and tails.

#include <cstdint>
#include <cstring>

namespace hookscope::kernels {

inline float bf16_to_float(uint16_t bits) {
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

// A weight of either stored type as float32, for loops written once for both.
inline float to_float(float v) {
    return v;
}
inline float to_float(uint16_t bits) {
    return bf16_to_float(bits);
}

} // namespace hookscope::kernels
