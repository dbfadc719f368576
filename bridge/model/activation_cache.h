#pragma once
// The activations one forward pass recorded: hook name -> tensor, in execution order.
// Built once, then shared read-only (std::shared_ptr<const ActivationCache>).

#include "bridge/model/named_tensors.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

class ActivationCache {
public:
    ActivationCache() = default;
    ActivationCache(std::vector<int64_t> tokens, std::string names_filter)
        : tokens_(std::move(tokens)), names_filter_(std::move(names_filter)) {}

    // Appends an activation; names must be unique.
    void add(std::string name, at::Tensor tensor);
    void set_logits(at::Tensor logits) { logits_ = std::move(logits); }

    // Throws NotCapturedError: "hook point `X` not captured (names filter: `F`)".
    const at::Tensor& operator[](std::string_view name) const;
    const at::Tensor* find(std::string_view name) const;
    bool contains(std::string_view name) const { return find(name) != nullptr; }

    const NamedTensors& entries() const { return entries_; } // execution order
    std::vector<std::string> names() const;
    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    // Bytes held by the captured tensors (numel x element size, summed).
    int64_t total_bytes() const;

    // The model's output for the run, [1, P, V], whatever the filter.
    const at::Tensor& logits() const { return logits_; }
    const std::vector<int64_t>& tokens() const { return tokens_; }
    const std::string& names_filter() const { return names_filter_; }

private:
    std::vector<int64_t> tokens_;
    std::string names_filter_;
    NamedTensors entries_;
    std::map<std::string, std::size_t, std::less<>> index_;
    at::Tensor logits_;
};

} // namespace hookscope
