#pragma once
// A bfloat16 (its raw 16-bit pattern) as the float32 it is: the top half of the float's
// bits. Exact; shared by every kernel file's scalar loops and tails.

#include "bridge/model/kernels/kernels.h"

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

// The address `values` weights (bfloat16 or float32) past p, as an integer sum: a
// prefetch may ask for memory past the end of a matrix, where a pointer may not point.
template <class Weight> const char* address_past(const Weight* p, int64_t values) {
    return reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) +
                                         static_cast<uintptr_t>(values) * sizeof(Weight));
}

// How far ahead a sequential stream of bfloat16 weights asks for its cache lines: 4 KB.
// On Zen 3, 1 KB read both GPT-2's and larger models' weights at 0.9-1.0 of the bandwidth
// probe's rate; on Zen 5 it left the SSE2 and AVX2 row products short (one 1B Llama
// decode step's products, runs alternating: SSE2 25-33 GB/s against 27-36 with 4 KB,
// AVX2 34-35 against 39-42), and a 1B Llama's bfloat16 decode ran 12% (SSE2) and 16%
// (AVX2) faster with 4 KB (medians of four alternating pairs of builds).
constexpr int64_t kStreamPrefetchValues = 2048;

// Whether the panel loops ask for their streams further ahead than the distances
// measured right on Zen 3, where a linear prefetch of GPT-2's float32 panels at the
// AVX2 level read them 5-20% slower and 1 KB suited the SSE2 ones: on Zen 5 the panel
// loops read 0.1-0.2 more of a plain sum further ahead (see each loop). The CPU's own
// level, not the capped one, decides, since it stands for the memory system: AVX-512
// tells the two measured CPUs apart until more are measured.
inline bool prefetch_panels_far() {
    return cpu_level() == Level::Avx512;
}

// Whether the streaming loops ask for each stream's lines twice: near into L1 (each
// loop's own distance) and kL2PrefetchBytes ahead into L2 (prefetch_into_l2). On an
// Intel Xeon (family 6 model 207, KVM, two cores, AVX-512) the hardware prefetchers left
// a sequential stream far short of memory: one 1B Llama decode step's bfloat16 row
// products read 0.58-0.63 of a plain sum of the same bytes without software prefetch,
// 0.79-0.83 with lines asked for 4 KB ahead and 0.93-0.96 with 16 KB ahead into L2
// besides (bench_streams, two runs each); the 1B's bfloat16 decode went from 8.2 to
// 12.1 tokens/s at the AVX-512 level and GPT-2 small's from 76 to 109. AMD CPUs keep the
// distances measured on Zen 3 and Zen 5 alone; every other CPU takes Intel's. Decided
// once, from the CPU's vendor.
bool prefetch_into_l2_too();

constexpr int64_t kL2PrefetchBytes = 16384;

// Asks for the line kL2PrefetchBytes past p into L2 (prefetcht1 on x86-64; a hint, so
// no fault past the end of a matrix).
template <class Weight> inline void prefetch_into_l2(const Weight* p) {
    __builtin_prefetch(address_past(p, kL2PrefetchBytes / static_cast<int64_t>(sizeof(Weight))), 0, 2);
}

// The block of the "paired" order in which the vector bfloat16 kernels take x (see
// to_paired in kernels.cpp): a 16-byte load of 8 bfloat16 holds 4 pairs, one per 32-bit
// lane; shifting each lane left by 16 gives the pair's even value as a float32 and
// masking off the low half its odd one, two instructions for 8 values.
constexpr int64_t kPairBlock = 16;

} // namespace hookscope::kernels
