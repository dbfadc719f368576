#pragma once
// Pure functions from a model's hook table or a captured cache to what the views show.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "ui/hook_tree_model.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

// Rows for a model's hook points before any run (the sequence axis unknown).
std::vector<HookEntry> hook_entries(const std::vector<HookInfo>& hooks);
// Rows for a captured cache, with concrete shapes and bytes.
std::vector<HookEntry> hook_entries(const ActivationCache& cache);

// A token's display form from its exported text: spaces as ␣, line breaks as \n,
// tabs as \t (as Tokenizer::display writes them).
std::string display_of_text(const std::string& text);

} // namespace hookscope::ui
