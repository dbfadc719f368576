#include "bridge/core/shape_text.h"

#include <vector>

namespace hookscope {

std::string shape_text(std::span<const std::string> labels) {
    std::string out = "[";
    for (std::size_t i = 0; i < labels.size(); ++i)
        out += (i ? ", " : "") + labels[i];
    return out + "]";
}

std::string shape_text(std::span<const int64_t> shape) {
    std::vector<std::string> labels;
    for (const int64_t size : shape)
        labels.push_back(size < 0 ? "pos" : std::to_string(size));
    return shape_text(labels);
}

} // namespace hookscope
