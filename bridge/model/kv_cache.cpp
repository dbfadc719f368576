#include "bridge/model/kv_cache.h"

#include "bridge/core/errors.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace hookscope {

KvCache::KvCache(int64_t layers, int64_t kv_heads, int64_t d_head, int64_t capacity, int first_layer)
    : first_layer_(first_layer), capacity_(capacity) {
    for (int64_t i = 0; i < layers; ++i) {
        keys_.push_back(at::empty({kv_heads, capacity, d_head}, at::kFloat));
        values_.push_back(at::empty({kv_heads, capacity, d_head}, at::kFloat));
    }
}

std::pair<at::Tensor, at::Tensor> KvCache::append(int layer, const at::Tensor& k, const at::Tensor& v) {
    const int64_t positions = k.size(1);
    if (length_ + positions > capacity_) {
        throw InputError("the key/value cache holds " + std::to_string(capacity_) + " positions; " +
                         std::to_string(length_ + positions) + " do not fit");
    }
    at::Tensor& keys = keys_of(layer);
    at::Tensor& values = values_of(layer);
    keys.slice(1, length_, length_ + positions).copy_(k[0].transpose(0, 1));
    values.slice(1, length_, length_ + positions).copy_(v[0].transpose(0, 1));
    return {keys.slice(1, 0, length_ + positions).unsqueeze(0), values.slice(1, 0, length_ + positions).unsqueeze(0)};
}

void KvCache::advance(int64_t positions) {
    length_ += positions;
}

float* KvCache::keys_data(int layer) {
    return keys_of(layer).data_ptr<float>();
}
float* KvCache::values_data(int layer) {
    return values_of(layer).data_ptr<float>();
}

void KvCache::store_row(int layer, const float* k, const float* v) {
    if (length_ >= capacity_) {
        throw InputError("the key/value cache holds " + std::to_string(capacity_) + " positions; " +
                         std::to_string(length_ + 1) + " do not fit");
    }
    const int64_t heads = keys_of(layer).size(0);
    const int64_t d_head = keys_of(layer).size(2);
    float* key_rows = keys_data(layer);
    float* value_rows = values_data(layer);
    for (int64_t h = 0; h < heads; ++h) {
        std::copy(k + h * d_head, k + (h + 1) * d_head, key_rows + (h * capacity_ + length_) * d_head);
        std::copy(v + h * d_head, v + (h + 1) * d_head, value_rows + (h * capacity_ + length_) * d_head);
    }
}

} // namespace hookscope
