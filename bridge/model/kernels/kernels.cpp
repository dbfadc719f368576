#include "bridge/model/kernels/kernels.h"

#include "bridge/model/kernels/bf16.h"
#include "bridge/model/kernels/portable_kernels.h"
#include "bridge/model/kernels/spin_pool.h"
#include "bridge/model/kernels/vector_levels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace hookscope::kernels {
namespace {

SpinPool& pool() {
    return SpinPool::instance();
}

// [begin, end) of part k of n split into `parts`, boundaries on multiples of `align`.
std::pair<int64_t, int64_t> share(int64_t n, int parts, int k, int64_t align) {
    const int64_t units = (n + align - 1) / align;
    const int64_t begin = std::min(n, units * k / parts * align);
    const int64_t end = std::min(n, units * (k + 1) / parts * align);
    return {begin, end};
}

// Runs part(begin, end) over [0, n) on the pool's threads in chunks of `chunk` (a
// multiple of what the kernels take at a time; the last may be shorter), shared and
// taken over as SpinPool::run_chunks says.
template <class Part> void run_balanced(int64_t n, int64_t chunk, ReadAhead after, const Part& part) {
    while ((n + chunk - 1) / chunk > int64_t{0xFFFFFFFF})
        chunk *= 2;
    const auto run_chunk = [&](int64_t c) { part(c * chunk, std::min(n, (c + 1) * chunk)); };
    pool().run_chunks((n + chunk - 1) / chunk, {}, run_chunk, after);
}

// A decode runs the same one-position products in the same order at every token, with
// stretches of work on the calling thread alone between them (norms, attention,
// sampling) while the workers wait. So each product notes which weights the calling
// thread's next product read last time, and the workers read the start of those ahead
// while they wait (ReadAhead), when the memory bus would otherwise idle. The first
// product of a token follows the last one of the token before. A wrong guess costs a
// little bandwidth: prefetching never faults, whatever the address.
ReadAhead read_ahead_after(const void* weights, int64_t bytes) {
    struct Trace {
        std::unordered_map<const void*, ReadAhead> next;
        const void* last = nullptr;
    };
    thread_local Trace trace;
    if (trace.last && trace.last != weights) {
        // Bounded: the weights of models long gone leave stale entries behind.
        if (trace.next.size() >= 4096) trace.next.clear();
        trace.next[trace.last] = {weights, bytes};
    }
    trace.last = weights;
    const auto found = trace.next.find(weights);
    return found == trace.next.end() ? ReadAhead{} : found->second;
}

} // namespace

int64_t chunk_of(int64_t n, int64_t unit_bytes, int64_t align) {
    constexpr int64_t kChunksPerShare = 16;
    const int64_t least = std::max<int64_t>(1, (64 << 10) / std::max<int64_t>(1, unit_bytes));
    const int64_t units = std::max(least, n / (int64_t{pool().size()} * kChunksPerShare));
    return (units + align - 1) / align * align;
}

namespace {

// One head: scores over the cached keys, softmax, weighted sum of the values.
void attend_head(const float* q, const float* keys, const float* values, int64_t d_head, int64_t length, float scale,
                 float* scores, float* z, bool avx2) {
    std::fill(scores, scores + length, 0.0f);
    if (avx2) {
        rows_avx2(keys, d_head, q, scores, 0, length);
    } else {
        portable::rows(keys, d_head, q, scores, 0, length);
    }
    for (int64_t t = 0; t < length; ++t)
        scores[t] *= scale;
    softmax_row(scores, length, scores);
    std::fill(z, z + d_head, 0.0f);
    if (avx2) {
        in_out_avx2(values, length, d_head, scores, z, 0, d_head);
    } else {
        portable::in_out(values, length, d_head, scores, z, 0, d_head);
    }
}

void start_with_bias(float* y, const float* bias, int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
        y[j] = bias ? bias[j] : 0.0f;
}

// The paired order of the AVX2 and SSE2 bfloat16 kernels: in each whole block of 16 values, the
// 8 at even offsets and then the 8 at odd ones; values after the last whole block stay.
void to_paired(const float* natural, int64_t n, float* paired) {
    const int64_t blocks_end = n / kPairBlock * kPairBlock;
    for (int64_t b = 0; b < blocks_end; b += kPairBlock) {
        for (int64_t t = 0; t < kPairBlock / 2; ++t) {
            paired[b + t] = natural[b + 2 * t];
            paired[b + kPairBlock / 2 + t] = natural[b + 2 * t + 1];
        }
    }
    std::copy(natural + blocks_end, natural + n, paired + blocks_end);
}

// y from paired to natural order in place, plus bias (which may be null).
void from_paired_plus_bias(float* y, int64_t n, const float* bias) {
    const int64_t blocks_end = n / kPairBlock * kPairBlock;
    for (int64_t b = 0; b < blocks_end; b += kPairBlock) {
        float block[kPairBlock];
        std::copy(y + b, y + b + kPairBlock, block);
        for (int64_t t = 0; t < kPairBlock / 2; ++t) {
            y[b + 2 * t] = block[t];
            y[b + 2 * t + 1] = block[kPairBlock / 2 + t];
        }
    }
    if (bias) {
        for (int64_t j = 0; j < n; ++j)
            y[j] += bias[j];
    }
}

// The in-out layout split across threads by input rows: each thread streams one
// contiguous range of the weights (splitting the columns instead leaves every thread
// reading half-rows, which the hardware prefetchers follow less well: 21 against 26 GB/s
// for GPT-2's bfloat16 blocks), summing into y (the first) or a partial of its own,
// and the partials are added to y at the end. `part(i0, i1, target)` accumulates rows
// [i0, i1) into target[0, out). The ranges are fixed (not run_balanced), so that which
// rows a partial sums, and so the result's rounding, never depends on timing. With
// `paired`, the parts sum in paired order (to_paired), and y is put back in order at the end.
template <class Part>
void split_input_rows(int64_t in, int64_t out, const float* bias, float* y, bool paired, ReadAhead after,
                      const Part& part) {
    thread_local std::vector<float> caller_partials;
    const int threads = pool().size();
    caller_partials.resize(static_cast<std::size_t>(std::max(0, threads - 1) * out));
    // The workers see the caller's buffer through this pointer (a thread_local named
    // inside the lambda would be each worker's own).
    float* const partials = caller_partials.data();
    int used = 1;
    pool().run(after, [&](int k, int parts) {
        // Row boundaries on multiples of 8, the largest row group the kernels take at a time.
        const auto [i0, i1] = share(in, parts, k, 8);
        float* target = y;
        if (k == 0) {
            start_with_bias(y, paired ? nullptr : bias, 0, out);
        } else {
            if (k > threads - 1) throw std::logic_error("kernel threads changed during a product");
            target = partials + (k - 1) * out;
            std::fill(target, target + out, 0.0f);
            if (k == parts - 1) used = parts; // written by one thread, read after the run
        }
        if (i0 < i1) part(i0, i1, target);
    });
    for (int t = 1; t < used; ++t) {
        const float* partial = partials + (t - 1) * out;
        for (int64_t j = 0; j < out; ++j)
            y[j] += partial[j];
    }
    if (paired) from_paired_plus_bias(y, out, bias);
}

} // namespace

void gemv_in_out(const float* w, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    const Level l = level();
    const ReadAhead after = read_ahead_after(w, in * out * int64_t{sizeof(float)});
    split_input_rows(in, out, bias, y, /*paired=*/false, after, [&](int64_t i0, int64_t i1, float* target) {
        switch (l) {
        case Level::Avx512: in_out_avx512(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Avx2: in_out_avx2(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Portable: portable::in_out(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        }
    });
}

void gemv_rows(const float* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y) {
    const Level l = level();
    const ReadAhead after = read_ahead_after(w, rows * cols * int64_t{sizeof(float)});
    run_balanced(rows, chunk_of(rows, cols * int64_t{sizeof(float)}, 4), after, [&](int64_t r0, int64_t r1) {
        start_with_bias(y, bias, r0, r1);
        switch (l) {
        case Level::Avx512: rows_avx512(w, cols, x, y, r0, r1); break;
        case Level::Avx2: rows_avx2(w, cols, x, y, r0, r1); break;
        case Level::Portable: portable::rows(w, cols, x, y, r0, r1); break;
        }
    });
}

void gemv_in_out_bf16(const uint16_t* w, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    const Level l = level();
    const ReadAhead after = read_ahead_after(w, in * out * int64_t{sizeof(uint16_t)});
    split_input_rows(in, out, bias, y, /*paired=*/l == Level::Avx2, after, [&](int64_t i0, int64_t i1, float* target) {
        switch (l) {
        case Level::Avx512: in_out_bf16_avx512(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        case Level::Avx2: in_out_bf16_avx2(w + i0 * out, i1 - i0, out, x + i0, target); break;
        case Level::Portable: portable::in_out_bf16(w + i0 * out, i1 - i0, out, x + i0, target, 0, out); break;
        }
    });
}

void gemv_rows_bf16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y) {
    gemv_column_blocks_bf16(w, 1, rows, cols, x, bias, y);
}

void gemv_column_blocks_bf16(const uint16_t* w, int64_t blocks, int64_t rows, int64_t block_cols, const float* x,
                             const float* bias, float* y) {
    const Level l = level();
    const int64_t cols = blocks * block_cols;
    thread_local std::vector<float> caller_x_paired;
    if (l != Level::Avx512) { // the AVX2 and SSE2 loops take x in paired order
        caller_x_paired.resize(static_cast<std::size_t>(cols));
        to_paired(x, cols, caller_x_paired.data()); // block_cols a multiple of 16: each block's x paired alike
    }
    const float* const x_paired = caller_x_paired.data(); // the caller's, seen by the workers
    // Each thread reads its rows of the first block first.
    const ReadAhead after = read_ahead_after(w, rows * block_cols * int64_t{sizeof(uint16_t)});
    run_balanced(rows, chunk_of(rows, cols * int64_t{sizeof(uint16_t)}, 4), after, [&](int64_t r0, int64_t r1) {
        start_with_bias(y, bias, r0, r1);
        for (int64_t c = 0; c < blocks; ++c) { // each loop adds its block's sums to y
            const uint16_t* block = w + c * rows * block_cols;
            const int64_t first = c * block_cols;
            switch (l) {
            case Level::Avx512: rows_bf16_avx512(block, block_cols, x + first, y, r0, r1); break;
            case Level::Avx2: rows_bf16_avx2(block, block_cols, x + first, x_paired + first, y, r0, r1); break;
            case Level::Portable: portable::rows_bf16(block, block_cols, x + first, x_paired + first, y, r0, r1); break;
            }
        }
    });
}

namespace {
// packed[p, k, s] = w[k, 32p + column(s)], or the reverse with `unpack`.
template <class T, class Column>
void move_panels(const T* from, int64_t in, int64_t out, T* to, bool unpack, Column column) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    for (int64_t p = 0; p < out / kPanelColumns; ++p) {
        for (int64_t k = 0; k < in; ++k) {
            for (int64_t s = 0; s < kPanelColumns; ++s) {
                const int64_t packed = (p * in + k) * kPanelColumns + s;
                const int64_t natural = k * out + p * kPanelColumns + column(s);
                to[unpack ? natural : packed] = from[unpack ? packed : natural];
            }
        }
    }
}
constexpr int64_t same_column(int64_t s) {
    return s;
}
} // namespace

void pack_panels_bf16(const uint16_t* w, int64_t in, int64_t out, uint16_t* packed) {
    move_panels(w, in, out, packed, /*unpack=*/false, panel_column);
}

void unpack_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, uint16_t* w) {
    move_panels(packed, in, out, w, /*unpack=*/true, panel_column);
}

void pack_panels(const float* w, int64_t in, int64_t out, float* packed) {
    move_panels(w, in, out, packed, /*unpack=*/false, same_column);
}

void unpack_panels(const float* packed, int64_t in, int64_t out, float* w) {
    move_panels(packed, in, out, w, /*unpack=*/true, same_column);
}

namespace {
// A one-position product over panels of either type: whole panels per chunk, no partial
// sums to add. AVX-512 processors take the AVX2 kernel: they have AVX2, and the stream,
// not the width, sets the pace.
template <class T, class Kernel>
void gemv_panels_of(const T* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y,
                    Kernel portable_kernel, Kernel vector_kernel) {
    if (out % kPanelColumns != 0) throw std::invalid_argument("panels need a multiple of 32 columns");
    const Kernel kernel = level() == Level::Portable ? portable_kernel : vector_kernel;
    const int64_t panel_bytes = in * kPanelColumns * int64_t{sizeof(T)};
    const ReadAhead after = read_ahead_after(packed, out / kPanelColumns * panel_bytes);
    run_balanced(out / kPanelColumns, chunk_of(out / kPanelColumns, panel_bytes, 1), after,
                 [&](int64_t p0, int64_t p1) { kernel(packed, in, x, bias, y, p0, p1); });
}
} // namespace

void gemv_panels_bf16(const uint16_t* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    gemv_panels_of(packed, in, out, x, bias, y, &portable::panels_bf16, &panels_bf16_avx2);
}

void gemv_panels(const float* packed, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    gemv_panels_of(packed, in, out, x, bias, y, &portable::panels, &panels_avx2);
}

void widen_bf16(const uint16_t* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst) {
    // On the calling thread: the product that follows runs on the BLAS's threads, and
    // splitting this across the pool measured slower (the two sets of threads contend
    // for the cores). The products only widen this way off x86-64 (kernels.h).
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c)
            dst[r * cols + c] = bf16_to_float(src[r * src_stride + c]);
    }
}

void attend_one(const float* q, const float* keys, const float* values, int64_t heads, int64_t kv_heads, int64_t d_head,
                int64_t capacity, int64_t length, double scale, float* z) {
    const bool avx2 = level() != Level::Portable; // attention rows are short: AVX2 serves
    const int64_t group = heads / kv_heads;
    // Scores for every head at once, allocated before the threads start.
    std::vector<float> scores(static_cast<std::size_t>(heads * length));
    pool().run([&](int k, int parts) {
        const auto [h0, h1] = share(heads, parts, k, 1);
        for (int64_t h = h0; h < h1; ++h) {
            const int64_t kv = h / group;
            attend_head(q + h * d_head, keys + kv * capacity * d_head, values + kv * capacity * d_head, d_head, length,
                        static_cast<float>(scale), scores.data() + h * length, z + h * d_head, avx2);
        }
    });
}

} // namespace hookscope::kernels
