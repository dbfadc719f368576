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

nlohmann::json shape_json(const HookInfo& info) {
    nlohmann::json shape = nlohmann::json::array();
    for (const Dim& dim : info.shape) {
        switch (dim.kind) {
        case Dim::Kind::Positions: shape.push_back("pos"); break;
        case Dim::Kind::Heads: shape.push_back("H=" + std::to_string(dim.size)); break;
        case Dim::Kind::KvHeads: shape.push_back("Hkv=" + std::to_string(dim.size)); break;
        case Dim::Kind::Fixed: shape.push_back(dim.size); break;
        }
    }
    return shape;
}

std::string json_shape_text(const nlohmann::json& shape) {
    std::vector<std::string> labels;
    for (const nlohmann::json& dim : shape)
        labels.push_back(dim.is_string() ? dim.get<std::string>() : dim.dump());
    return shape_text(labels);
}

} // namespace hookscope
