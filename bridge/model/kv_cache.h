#pragma once
// Keys and values of the positions a model has already processed, so that decoding
// feeds one new token per step. Allocated once for the whole run (prompt plus the
// tokens to generate, capped at the context length). Keys are stored after any
// rotary embedding.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace hookscope {

class KvCache {
public:
    // Room for `capacity` positions in each of `layers` layers, numbered from
    // `first_layer` on (a pipeline stage holds only its own layers).
    KvCache(int64_t layers, int64_t kv_heads, int64_t d_head, int64_t capacity, int first_layer = 0);

    int64_t length() const { return length_; }
    int64_t capacity() const { return capacity_; }

    // Stores the keys and values k, v [1, P, Hkv, Dh] of positions length()..length()+P-1
    // for `layer`, and returns every key and value so far, [1, Hkv, length()+P, Dh].
    // Throws InputError when the positions do not fit.
    std::pair<at::Tensor, at::Tensor> append(int layer, const at::Tensor& k, const at::Tensor& v);

    // Moves length() past the positions every layer has now appended.
    void advance(int64_t positions);

    // For the one-position decode kernels: the raw [Hkv, capacity, Dh] buffers of `layer`,
    // and storing k, v ([Hkv * Dh] each) at position length().
    float* keys_data(int layer);
    float* values_data(int layer);
    void store_row(int layer, const float* k, const float* v);

private:
    at::Tensor& keys_of(int layer) { return keys_[static_cast<std::size_t>(layer - first_layer_)]; }
    at::Tensor& values_of(int layer) { return values_[static_cast<std::size_t>(layer - first_layer_)]; }

    std::vector<at::Tensor> keys_, values_; // per layer [Hkv, capacity, Dh]
    int first_layer_ = 0;
    int64_t capacity_ = 0;
    int64_t length_ = 0;
};

} // namespace hookscope
