// Kernels over one vector of a decode step: the norms and the rotary embedding. Plain
// loops: their work is a few thousand values, far below the products'.

#include "bridge/kernels.h"

#include <cmath>

namespace hookscope::kernels {

void layer_norm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i)
        sum += x[i];
    const double mean = sum / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
        squares += (x[i] - mean) * (x[i] - mean);
    const auto rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
    const auto m = static_cast<float>(mean);
    for (int64_t i = 0; i < n; ++i)
        out[i] = (x[i] - m) * rstd * w[i] + b[i];
}

void rms_norm(const float* x, const float* w, int64_t n, double eps, float* out) {
    double squares = 0;
    for (int64_t i = 0; i < n; ++i)
        squares += static_cast<double>(x[i]) * x[i];
    const auto rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i)
        out[i] = w[i] * (x[i] * rstd);
}

void rotate_half(float* x, int64_t heads, int64_t d_head, int64_t dims, const float* cos, const float* sin) {
    const int64_t half = dims / 2;
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * d_head;
        for (int64_t i = 0; i < half; ++i) {
            const float a = v[i], b = v[i + half];
            v[i] = a * cos[i] - b * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

} // namespace hookscope::kernels
