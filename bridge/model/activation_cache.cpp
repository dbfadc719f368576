#include "bridge/model/activation_cache.h"

#include "bridge/core/errors.h"

namespace hookscope {

void ActivationCache::add(std::string name, at::Tensor tensor) {
    if (!index_.emplace(name, entries_.size()).second) {
        throw Error("hook point `" + name + "` recorded twice");
    }
    entries_.emplace_back(std::move(name), std::move(tensor));
}

const at::Tensor* ActivationCache::find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const at::Tensor& ActivationCache::operator[](std::string_view name) const {
    if (const at::Tensor* t = find(name)) return *t;
    throw NotCapturedError("hook point `" + std::string(name) + "` not captured (names filter: `" + names_filter_ +
                           "`)");
}

std::vector<std::string> ActivationCache::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& entry : entries_)
        out.push_back(entry.first);
    return out;
}

int64_t ActivationCache::total_bytes() const {
    int64_t total = 0;
    for (const auto& entry : entries_) {
        total += entry.second.numel() * static_cast<int64_t>(entry.second.element_size());
    }
    return total;
}

} // namespace hookscope
