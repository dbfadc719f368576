#include "bridge/model/layers.h"

#include "bridge/model/weights.h"

#include <algorithm>
#include <atomic>

namespace hookscope::layers {
namespace {

// Float32 bytes of one widened panel: wide enough that the BLAS runs near its full
// rate on it (1 MB panels measured 1.5x to 4x slower than float32 on 2048- and 8192-wide
// inputs; 8 MB ones 1.1x to 1.5x), small beside any weight worth holding in bfloat16.
constexpr int64_t kPanelBytes = int64_t{1} << 23;

// A scratch buffer per thread, grown as needed and reused, so that widening never
// allocates (and never faults in fresh pages) per product.
float* panel_buffer(int64_t floats) {
    thread_local std::vector<float> buffer;
    if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(static_cast<std::size_t>(floats));
    return buffer.data();
}

std::atomic<bool> row_padding{true};

} // namespace

void enable_row_padding(bool enabled) {
    row_padding.store(enabled, std::memory_order_relaxed);
}

bool row_padding_enabled() {
    return row_padding.load(std::memory_order_relaxed);
}

at::Tensor to_panels(const at::Tensor& w) {
    const int64_t in = w.size(0), out = w.size(1);
    const at::Tensor natural = w.contiguous();
    at::Tensor packed =
        new_weight_tensor({out / kernels::kPanelColumns, in, kernels::kPanelColumns}, natural.scalar_type());
    if (natural.scalar_type() == at::kFloat) {
        kernels::pack_panels(natural.data_ptr<float>(), in, out, packed.data_ptr<float>());
    } else {
        kernels::pack_panels_bf16(bf16_data(natural), in, out,
                                  reinterpret_cast<uint16_t*>(packed.data_ptr<at::BFloat16>()));
    }
    return packed;
}

at::Tensor from_panels(const at::Tensor& packed) {
    const int64_t in = packed.size(1), out = packed.size(0) * packed.size(2);
    at::Tensor w = at::empty({in, out}, packed.options());
    if (packed.scalar_type() == at::kFloat) {
        kernels::unpack_panels(packed.data_ptr<float>(), in, out, w.data_ptr<float>());
    } else {
        kernels::unpack_panels_bf16(bf16_data(packed), in, out,
                                    reinterpret_cast<uint16_t*>(w.data_ptr<at::BFloat16>()));
    }
    return w;
}

int64_t column_block_count(int64_t in, int64_t most_columns) {
    if (in <= most_columns) return 1;
    for (int64_t blocks = (in + most_columns - 1) / most_columns; blocks <= 64; ++blocks) {
        if (in % blocks == 0 && (in / blocks) % 16 == 0) return blocks;
    }
    return 1;
}

at::Tensor to_column_blocks(const at::Tensor& w, int64_t most_columns) {
    if (w.dim() != 2 || w.scalar_type() != at::kBFloat16 || w.requires_grad()) return w;
    const int64_t out = w.size(0), in = w.size(1), blocks = column_block_count(in, most_columns);
    if (blocks == 1) return w;
    const int64_t width = in / blocks;
    at::Tensor held = new_weight_tensor({blocks, out, width}, at::kBFloat16);
    for (int64_t c = 0; c < blocks; ++c)
        held[c].copy_(w.slice(1, c * width, (c + 1) * width));
    return held;
}

at::Tensor from_column_blocks(const at::Tensor& w) {
    if (w.dim() != 3) return w;
    return w.permute({1, 0, 2}).reshape({w.size(1), w.size(0) * w.size(2)});
}

at::Tensor column_blocks_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    const int64_t blocks = w.size(0), out = w.size(1), width = w.size(2);
    auto sizes = x.sizes().vec();
    sizes.back() = out;
    if (decode_kernel_fits(x, w, b)) {
        const at::Tensor xc = x.contiguous();
        at::Tensor y = new_row(sizes);
        kernels::gemv_column_blocks_bf16(bf16_data(w), blocks, out, width, xc.data_ptr<float>(), data_or_null(b),
                                         y.data_ptr<float>());
        return y;
    }
    const at::Tensor x2 = x.reshape({-1, blocks * width});
    at::Tensor y = widened_product(x2.slice(1, 0, width), w[0], /*linear_layout=*/true);
    for (int64_t c = 1; c < blocks; ++c)
        y.add_(widened_product(x2.slice(1, c * width, (c + 1) * width), w[c], /*linear_layout=*/true));
    return (b.defined() ? y.add_(b) : y).view(sizes);
}

at::Tensor widened_product(const at::Tensor& x, const at::Tensor& w, bool linear_layout) {
    const int64_t in = linear_layout ? w.size(1) : w.size(0);
    const int64_t out = linear_layout ? w.size(0) : w.size(1);
    const at::Tensor xc = x.to(at::kFloat).contiguous();
    at::Tensor y = at::empty({xc.size(0), out}, xc.options());
#if defined(__x86_64__)
    constexpr bool blocked = true; // SSE2 at least: the blocked kernel at every level
#else
    const bool blocked = kernels::level() != kernels::Level::Portable;
#endif
    if (blocked) {
        // Widened inside the product's own panels: as fast as float32 weights on OpenBLAS.
        kernels::gemm_bf16(xc.data_ptr<float>(), xc.size(0), in, in, bf16_data(w), out, linear_layout,
                           y.data_ptr<float>(), out);
        return y;
    }
    // Without vector instructions the portable loops are several times slower than the
    // BLAS: widen panels for it instead.
    const int64_t width = std::clamp<int64_t>(kPanelBytes / 4 / in / 16 * 16, 16, out);
    float* buffer = panel_buffer(width * in);
    const uint16_t* weights = bf16_data(w);
    for (int64_t o0 = 0; o0 < out; o0 += width) {
        const int64_t cols = std::min(width, out - o0);
        at::Tensor part = y.slice(1, o0, o0 + cols); // rows of y with its row stride: the BLAS writes in place
        if (linear_layout) {                         // rows o0.. of w [out, in]
            kernels::widen_bf16(weights + o0 * in, cols, in, in, buffer);
            at::mm_out(part, xc, at::from_blob(buffer, {cols, in}).t());
        } else { // columns o0.. of w [in, out]
            kernels::widen_bf16(weights + o0, in, cols, out, buffer);
            at::mm_out(part, xc, at::from_blob(buffer, {in, cols}));
        }
    }
    return y;
}

} // namespace hookscope::layers
