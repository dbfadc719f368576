#pragma once
// Opening a cache file without a model: any safetensors or .npz file whose keys are
// TransformerLens hook names — ours, or one saved in Python from a TransformerLens
// (or TransformerBridge) cache — with or without the batch dimension.

#include "bridge/model/activation_cache.h"
#include "bridge/model/safetensors.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

struct OpenedCache {
    // Every tensor whose key is a hook name, as [1, ...], then the other tensors as
    // stored. Its tokens are the file's token ids (our metadata), else -1 for each
    // position.
    ActivationCache cache;
    bool token_ids_known = false;
    std::vector<std::string> token_strings; // our metadata's, else empty
    int64_t prompt_length = 0;              // our metadata's, else 0
    std::string model;                      // our metadata's model, else ""
    // The interventions the run had, as our export records them (metadata key
    // `interventions`): the resolved SPEC texts in order, and the JSON as recorded.
    std::vector<std::string> interventions;
    std::string interventions_json = "[]";
    std::vector<std::string> other; // the keys that are not hook names
    // What reading changed, for the user: names read as their HookedTransformer
    // aliases, batch dimensions added or dropped.
    std::vector<std::string> notes;
};

// TransformerBridge's own name for a hook point, as the HookedTransformer name it
// aliases ("blocks.3.hook_in" -> "blocks.3.hook_resid_pre"); nullopt for a name with
// no alias here.
std::optional<std::string> hooked_transformer_name(const std::string& bridge_name);

// Reads `path` (.npz by its extension, else safetensors). Throws SessionError (what,
// where, why) for an unreadable file, tensors that disagree on the positions, or a
// file with no hook point in it.
OpenedCache open_cache_file(const std::filesystem::path& path);

} // namespace hookscope
