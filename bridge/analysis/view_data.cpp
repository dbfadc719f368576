#include "bridge/analysis/view_data.h"

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/token_ids.h"
#include "bridge/model/activation_cache.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>

namespace hookscope {

HookLayout layout_of(const std::string& name, const std::vector<int64_t>& shape) {
    if (shape.size() == 4) {
        return is_attention_matrix(name) ? HookLayout::HeadMatrix : HookLayout::HeadVectors;
    }
    if (shape.size() == 3) return shape[2] == 1 ? HookLayout::Scalars : HookLayout::Vectors;
    return HookLayout::Other;
}

int64_t head_count(const std::string& name, const at::Tensor& t) {
    switch (layout_of(name, t.sizes().vec())) {
    case HookLayout::HeadVectors: return t.size(2);
    case HookLayout::HeadMatrix: return t.size(1);
    default: return 1;
    }
}

at::Tensor run_difference(const std::string& name, const at::Tensor& current, const at::Tensor& pinned) {
    const auto shape_text = [](const at::Tensor& t) { return hookscope::shape_text(t.sizes()); };
    const HookLayout layout = layout_of(name, current.sizes().vec());
    std::vector<int64_t> position_axes;
    if (layout == HookLayout::HeadMatrix) {
        position_axes = {2, 3};
    } else if (layout != HookLayout::Other) {
        position_axes = {1};
    }
    bool comparable = current.dim() == pinned.dim();
    for (int64_t i = 0; comparable && i < current.dim(); ++i) {
        const bool positions = std::find(position_axes.begin(), position_axes.end(), i) != position_axes.end();
        comparable = positions || current.size(i) == pinned.size(i);
    }
    if (!comparable) {
        throw std::invalid_argument("`" + name + "` is " + shape_text(current) + " in this run and " +
                                    shape_text(pinned) + " in the pinned one: they cannot be compared");
    }
    at::Tensor a = current, b = pinned;
    for (const int64_t axis : position_axes) {
        const int64_t common = std::min(a.size(axis), b.size(axis));
        a = a.narrow(axis, 0, common);
        b = b.narrow(axis, 0, common);
    }
    at::Tensor difference = a.to(at::kFloat) - b.to(at::kFloat);
    const auto largest_finite = [](const at::Tensor& t) {
        const at::Tensor magnitude = t.to(at::kFloat).abs();
        const at::Tensor finite = magnitude.masked_select(at::isfinite(magnitude));
        return finite.numel() ? finite.max().item<double>() : 0.0;
    };
    const double rounding = 8.0 * std::ldexp(1.0, -24) * std::max(largest_finite(a), largest_finite(b));
    difference.masked_fill_(difference.abs() <= rounding, 0.0f);
    return difference;
}

bool all_zero(const at::Tensor& t) {
    return !((t == 0) | at::isnan(t)).logical_not().any().item<bool>();
}

at::Tensor chosen_tensor(const std::string& name, RunChoice choice, const ActivationCache& current,
                         const ActivationCache* pinned) {
    const at::Tensor* here = current.find(name);
    const at::Tensor* there = pinned ? pinned->find(name) : nullptr;
    if (choice != RunChoice::Current && pinned && !there) {
        throw std::invalid_argument("`" + name + "` was not captured in the pinned run");
    }
    if (choice == RunChoice::Pinned && pinned) return *there;
    if (!here) throw std::invalid_argument("`" + name + "` was not captured in this run");
    if (choice == RunChoice::Difference && pinned) return run_difference(name, *here, *there);
    return *here;
}

namespace {

// One batch element's slice for `head`, as a 2-D tensor.
at::Tensor slice_of(const std::string& name, const at::Tensor& t, int64_t head) {
    switch (layout_of(name, t.sizes().vec())) {
    case HookLayout::HeadVectors: return t[0].select(1, head); // [P, Dh]
    case HookLayout::HeadMatrix: return t[0][head];            // [P, P]
    case HookLayout::Vectors:
    case HookLayout::Scalars: return t[0];
    case HookLayout::Other: break;
    }
    return t.reshape({1, -1});
}

Matrix to_matrix(at::Tensor m) {
    m = m.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true).contiguous(); // never the cache's own storage
    m.masked_fill_(at::isinf(m) & (m < 0), std::numeric_limits<double>::quiet_NaN());
    Matrix out;
    out.rows = m.size(0);
    out.cols = m.dim() > 1 ? m.size(1) : 1;
    out.values.assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
    return out;
}

} // namespace

Matrix pooled_matrix(const std::string& name, const at::Tensor& t, int64_t head, int64_t size) {
    at::Tensor m = slice_of(name, t, head);
    if (m.size(0) > size || m.size(1) > size) {
        const std::vector<int64_t> out{std::min(size, m.size(0)), std::min(size, m.size(1))};
        m = std::get<0>(at::adaptive_max_pool2d(m.to(at::kFloat).unsqueeze(0), out))[0]; // [1, r, c] -> [r, c]
    }
    return to_matrix(m);
}

Matrix hook_matrix(const std::string& name, const at::Tensor& t, int64_t head) {
    return to_matrix(slice_of(name, t, head));
}

std::vector<double> row_norms(const Matrix& m) {
    std::vector<double> out(static_cast<std::size_t>(m.rows), 0.0);
    for (int64_t r = 0; r < m.rows; ++r) {
        double sum = 0;
        for (int64_t c = 0; c < m.cols; ++c) {
            const double v = m.at(r, c);
            if (!std::isnan(v)) sum += v * v;
        }
        out[static_cast<std::size_t>(r)] = std::sqrt(sum);
    }
    return out;
}

namespace {

// The colour range of the finite values of `matrices` together (see colour_range).
ColourRange range_of(std::initializer_list<const Matrix*> matrices) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const Matrix* m : matrices) {
        for (const double v : m->values) {
            if (!std::isfinite(v)) continue;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    }
    if (lo > hi) return {0.0, 1.0, false}; // nothing finite
    if (lo == hi) {
        const double width = lo == 0 ? 1.0 : std::abs(lo) / 10;
        return {lo - width, lo + width, false};
    }
    if (lo < 0 && hi > 0) {
        const double a = std::max(-lo, hi);
        return {-a, a, true};
    }
    return {lo, hi, lo < 0};
}

} // namespace

ColourRange colour_range(const Matrix& m) {
    return range_of({&m});
}

ColourRange colour_range(const Matrix& a, const Matrix& b) {
    return range_of({&a, &b});
}

std::optional<double> uniform_value(const Matrix& m) {
    std::optional<double> value;
    for (const double v : m.values) {
        if (!std::isfinite(v)) continue;
        if (value && *value != v) return std::nullopt;
        value = v;
    }
    return value;
}

ResidualNorms residual_norms(const ActivationCache& cache, int64_t layers) {
    ResidualNorms out;
    const auto add = [&](const std::string& name) {
        const at::Tensor* t = cache.find(name);
        if (!t || t->dim() != 3) return;
        const at::Tensor norms = t->select(0, 0).to(at::kDouble).norm(2, -1).contiguous(); // [P]
        out.stages.push_back(name);
        out.norms.emplace_back(norms.data_ptr<double>(), norms.data_ptr<double>() + norms.numel());
    };
    for (int i = 0; i < static_cast<int>(layers); ++i)
        add(HookPoint::block(Site::ResidPre, i).to_string());
    if (layers > 0) add(HookPoint::block(Site::ResidPost, static_cast<int>(layers) - 1).to_string());
    return out;
}

std::vector<std::vector<TokenProbability>> top_tokens(const at::Tensor& logits, int64_t k) {
    if (logits.dim() != 3 || logits.size(0) != 1) return {};
    const at::Tensor probs = at::softmax(logits.select(0, 0).to(at::kDouble), -1); // [P, V]
    const auto [values, ids] = probs.topk(std::min<int64_t>(k, probs.size(-1)), -1);
    std::vector<std::vector<TokenProbability>> out(static_cast<std::size_t>(probs.size(0)));
    const auto v = values.accessor<double, 2>();
    const auto i = ids.accessor<int64_t, 2>();
    for (int64_t p = 0; p < values.size(0); ++p) {
        for (int64_t j = 0; j < values.size(1); ++j)
            out[static_cast<std::size_t>(p)].push_back({i[p][j], v[p][j]});
    }
    return out;
}

TokenRank token_rank(const at::Tensor& logits, int64_t position, int64_t id) {
    if (logits.dim() != 3 || logits.size(0) != 1) {
        throw InputError("logits of shape " + shape_text(logits.sizes().vec()) + " are not [1, pos, vocab]");
    }
    if (position < 0 || position >= logits.size(1)) {
        throw InputError("position " + std::to_string(position) + " is outside the " + std::to_string(logits.size(1)) +
                         " positions of the logits");
    }
    check_token_id(id, logits.size(2), "token id");
    const at::Tensor probs = at::softmax(logits[0][position].to(at::kDouble), -1); // [V]
    const double p = probs[id].item<double>();
    return {1 + (probs > p).sum().item<int64_t>(), p};
}

std::optional<int64_t> predicted_token(const ActivationCache& cache, int64_t position) {
    const at::Tensor& logits = cache.logits(); // [1, P, V]
    if (!logits.defined() || logits.dim() != 3 || position < 0 || position >= logits.size(1)) return std::nullopt;
    return logits[0][position].argmax().item<int64_t>();
}

std::vector<std::optional<TensorStats>> tensor_stats(const ActivationCache& cache) {
    std::vector<std::optional<TensorStats>> out;
    out.reserve(cache.size());
    for (const auto& [name, tensor] : cache.entries()) {
        const at::Tensor mask = at::isfinite(tensor);
        const at::Tensor finite = mask.all().item<bool>() ? tensor : tensor.masked_select(mask);
        if (finite.numel() == 0) {
            out.emplace_back();
            continue;
        }
        out.push_back(TensorStats{finite.min().item<double>(), finite.max().item<double>(),
                                  finite.mean().item<double>(), finite.norm().item<double>()});
    }
    return out;
}

CacheShape cache_shape(const ActivationCache& cache) {
    CacheShape s;
    for (const auto& [name, tensor] : cache.entries()) {
        const auto point = HookPoint::parse(name);
        if (!point) continue;
        s.layers = std::max<int64_t>(s.layers, point->layer + 1);
        if (tensor.dim() != 4) continue;
        if (is_attention_matrix(name)) s.heads = tensor.size(1);
        if (point->site == Site::AttnQ && s.heads == 0) s.heads = tensor.size(2);
        if (point->site == Site::AttnK) s.kv_heads = tensor.size(2);
    }
    if (s.kv_heads == 0) s.kv_heads = s.heads;
    return s;
}

} // namespace hookscope
