#include "bridge/model/rotary.h"

#include "bridge/model/layers.h"

#include <ATen/ATen.h>

#include <algorithm>

#include <cmath>
#include <numbers>

namespace hookscope::rotary {

at::Tensor inverse_frequencies(const ModelConfig& c) {
    const int64_t dims = c.rotary_dims;
    at::Tensor inv_freq =
        1.0 / at::pow(c.rotary_base, at::arange(0, dims, 2, at::kLong).to(at::kFloat) / static_cast<double>(dims));
    inv_freq = inv_freq.to(at::kFloat);
    if (c.rope_scaling == "llama3") {
        // Long wavelengths are slowed by the factor, short ones kept, the band between
        // interpolated (Llama 3.1's rule).
        const double low_wavelength = static_cast<double>(c.rope_original_context) / c.rope_high_freq_factor;
        const double high_wavelength = static_cast<double>(c.rope_original_context) / c.rope_low_freq_factor;
        float* f = inv_freq.data_ptr<float>();
        for (int64_t i = 0; i < inv_freq.numel(); ++i) {
            const double freq = f[i];
            const double wavelength = 2 * std::numbers::pi / freq;
            if (wavelength < low_wavelength) continue;
            if (wavelength > high_wavelength) {
                f[i] = static_cast<float>(freq / c.rope_factor);
                continue;
            }
            const double smooth = (static_cast<double>(c.rope_original_context) / wavelength - c.rope_low_freq_factor) /
                                  (c.rope_high_freq_factor - c.rope_low_freq_factor);
            f[i] = static_cast<float>((1 - smooth) * freq / c.rope_factor + smooth * freq);
        }
    }
    return inv_freq;
}

Angles angles(const ModelConfig& c, const at::Tensor& inv_freq, int64_t start, int64_t positions) {
    return angles(c, inv_freq, at::arange(start, start + positions, at::kLong));
}

Angles angles(const ModelConfig& c, const at::Tensor& inv_freq, const at::Tensor& positions) {
    at::Tensor t = positions.to(at::kFloat);
    if (c.rope_scaling == "linear") t = t / c.rope_factor;
    const at::Tensor freqs = at::outer(t, inv_freq);                              // [P, dims/2]
    const at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(0).unsqueeze(2); // [1, P, 1, dims]
    return {emb.cos(), emb.sin()};
}

at::Tensor apply(const at::Tensor& x, const Angles& a) {
    const int64_t dims = a.cos.size(-1);
    if (layers::one_position(x, /*feature_axes=*/2) && a.cos.scalar_type() == at::kFloat && a.cos.is_contiguous() &&
        a.sin.is_contiguous()) {
        // One position (a decode step): the kernel, on a copy (x may be recorded as it is),
        // made without the dispatcher's overhead where x is one block of floats.
        at::Tensor out;
        if (x.is_contiguous()) {
            out = layers::new_row(x.sizes());
            std::copy_n(x.data_ptr<float>(), x.numel(), out.data_ptr<float>());
        } else {
            out = x.clone(at::MemoryFormat::Contiguous);
        }
        kernels::rotate_half(out.data_ptr<float>(), x.size(2), x.size(3), dims, a.cos.data_ptr<float>(),
                             a.sin.data_ptr<float>());
        return out;
    }
    const at::Tensor rot = x.slice(-1, 0, dims);
    const at::Tensor first = rot.slice(-1, 0, dims / 2), second = rot.slice(-1, dims / 2, dims);
    const at::Tensor rotated = rot * a.cos + at::cat({-second, first}, -1) * a.sin;
    if (dims == x.size(-1)) return rotated;
    return at::cat({rotated, x.slice(-1, dims)}, -1);
}

} // namespace hookscope::rotary
