#pragma once
// Rotary position embeddings, rotate-half convention (GPT-NeoX, Llama): the first
// `rotary_dims` dims of each head are rotated in pairs (i, i + rotary_dims/2) by the
// angle position · inv_freq[i]. Computed in float32 as Hugging Face does.

#include "bridge/core/model_config.h"

#include <ATen/core/Tensor.h>

namespace hookscope::rotary {

// inv_freq [rotary_dims / 2]: base^(-2i / rotary_dims), with a llama3 rope_scaling
// applied per frequency.
at::Tensor inverse_frequencies(const ModelConfig& c);

struct Angles {
    at::Tensor cos, sin; // [1, P, 1, rotary_dims]
};

// For positions start..start+positions-1 (a linear rope_scaling divides them by its factor).
Angles angles(const ModelConfig& c, const at::Tensor& inv_freq, int64_t start, int64_t positions);
// For the positions `positions` [P] (int64), in any order: a packed forward's.
Angles angles(const ModelConfig& c, const at::Tensor& inv_freq, const at::Tensor& positions);

// x [B, P, H, Dh] with its first rotary_dims dims rotated (a new tensor; one position
// in float32 takes kernels::rotate_half).
at::Tensor apply(const at::Tensor& x, const Angles& angles);

} // namespace hookscope::rotary
