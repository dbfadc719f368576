#pragma once
// The precision a model computes in. Free of LibTorch so the app and the command line
// can name it.

#include <optional>
#include <string_view>

namespace hookscope {

// Float32: every weight and activation in float32 (the default, the one that matches
// the references).
// BFloat16: the weight matrices and embeddings are held in bfloat16, and that is the
// only rounding: every product widens its weights to float32 as it reads them (in
// registers for one position, a panel at a time for several) and multiplies float32
// inputs with float32 accumulation; biases, norms, softmax, the residual stream and
// every captured activation stay float32. So a bfloat16 model computes what the
// float32 model computes on the same weights rounded to bfloat16 (up to the order of
// float32 sums), on every CPU: half the weight memory, about twice the decode speed.
// Float64: every weight and activation in float64, the reference arithmetic the tests
// measure the other two against (full forwards only; not offered to users).
enum class Precision { Float32, BFloat16, Float64 };

constexpr std::string_view precision_name(Precision p) {
    switch (p) {
    case Precision::Float32: return "float32";
    case Precision::BFloat16: return "bfloat16";
    case Precision::Float64: return "float64";
    }
    return "float32";
}

inline std::optional<Precision> parse_precision(std::string_view name) {
    if (name == "float32") return Precision::Float32;
    if (name == "bfloat16") return Precision::BFloat16;
    return std::nullopt;
}

} // namespace hookscope
