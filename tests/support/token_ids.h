#pragma once
// Token ids held in a tensor (e.g. a golden file's input_ids), as a vector.

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace hookscope::test {

inline std::vector<int64_t> ids_of(const at::Tensor& t) {
    const at::Tensor flat = t.flatten().to(at::kLong).contiguous();
    return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

} // namespace hookscope::test
