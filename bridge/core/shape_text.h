#pragma once
// Shapes as messages, tables and the command line write them: "[1, 12, pos, 64]".

#include <cstdint>
#include <span>
#include <string>

namespace hookscope {

// Each axis by its size; a negative size is the positions axis, whose length depends
// on the run, written "pos".
std::string shape_text(std::span<const int64_t> shape);

// Each axis by a label of its own ("1", "pos", "H=12").
std::string shape_text(std::span<const std::string> labels);

} // namespace hookscope
