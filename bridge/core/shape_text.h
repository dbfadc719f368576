#pragma once
// Shapes as messages, tables and the command line write them: "[1, 12, pos, 64]",
// and as JSON lists (hook listings, dataset manifests).

#include "bridge/core/hook_point.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>

namespace hookscope {

// Each axis by its size; a negative size is the positions axis, whose length depends
// on the run, written "pos".
std::string shape_text(std::span<const int64_t> shape);

// Each axis by a label of its own ("1", "pos", "H=12").
std::string shape_text(std::span<const std::string> labels);

// A hook point's shape as JSON: numbers, "pos" for the sequence axis, "H=n" and
// "Hkv=n" for the head axes.
nlohmann::json shape_json(const HookInfo& info);

// A shape as shape_json writes it (numbers and labels), as text.
std::string json_shape_text(const nlohmann::json& shape);

} // namespace hookscope
