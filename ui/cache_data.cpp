#include "ui/cache_data.h"

#include "bridge/model/activation_cache.h"

#include <ATen/ATen.h>

namespace hookscope::ui {

std::vector<HookEntry> hook_entries(const std::vector<HookInfo>& hooks) {
    std::vector<HookEntry> out;
    out.reserve(hooks.size());
    for (const HookInfo& h : hooks)
        out.push_back({h.name, concrete_shape(h, -1), -1});
    return out;
}

std::vector<HookEntry> hook_entries(const ActivationCache& cache) {
    std::vector<HookEntry> out;
    out.reserve(cache.size());
    for (const auto& [name, tensor] : cache.entries())
        out.push_back({name, tensor.sizes().vec(), static_cast<int64_t>(tensor.numel() * tensor.element_size())});
    return out;
}

std::vector<std::optional<TensorStats>> tensor_stats(const ActivationCache& cache) {
    std::vector<std::optional<TensorStats>> out;
    out.reserve(cache.size());
    for (const auto& [name, tensor] : cache.entries()) {
        // Masked attention scores hold -inf: statistics over the finite values.
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

std::string display_of_text(const std::string& text) {
    std::string out;
    for (const char c : text) {
        if (c == ' ') {
            out += "\u2423";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace hookscope::ui
