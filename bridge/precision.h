#pragma once
// The precision a model computes in. Free of LibTorch so the app and the command line
// can name it.

#include <optional>
#include <string_view>

namespace hookscope {

// Float32: every weight and activation in float32 (the default, the one that matches
// the references). BFloat16: the weight matrices (and embeddings) are held in bfloat16
// and the matrix products run in bfloat16 with float32 accumulation, as PyTorch's CPU
// autocast does; biases, norms, softmax, the residual stream and every captured
// activation stay float32. Half the weight memory, about twice the decode speed, and
// results that differ from float32 by bfloat16 rounding (about 3 significant digits).
enum class Precision { Float32, BFloat16 };

constexpr std::string_view precision_name(Precision p) {
    return p == Precision::BFloat16 ? "bfloat16" : "float32";
}

inline std::optional<Precision> parse_precision(std::string_view name) {
    if (name == "float32") return Precision::Float32;
    if (name == "bfloat16") return Precision::BFloat16;
    return std::nullopt;
}

} // namespace hookscope
