#pragma once
// Tensors by name, in order: a cache's entries, a checkpoint's weights, a file's tensors.

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace hookscope {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

} // namespace hookscope
