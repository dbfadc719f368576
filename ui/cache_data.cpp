#include "ui/cache_data.h"

#include "bridge/model/activation_cache.h"

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
