#pragma once
// Interventions from their text to what the forward applies: the files they name read
// (add vectors from safetensors files, patch sources from cache files or the pinned
// run), everything checked against the model and the run before any work starts.

#include "bridge/core/intervention_spec.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/interventions.h"

#include <filesystem>
#include <string>
#include <vector>

namespace hookscope {

class Model;

// What the interventions of one run must fit, and where their files are.
struct InterventionContext {
    std::filesystem::path base;              // relative FILE paths resolve against it
    int64_t first_pass_length = 0;           // positions of the first forward: the prompt (run: the input)
    int64_t max_positions = 0;               // the longest sequence the run can reach
    const ActivationCache* pinned = nullptr; // the source of `patch:@pinned`
};

// Parses each text (InterventionSpec::parse), resolves a bare mean to the first pass's
// positions, checks the spec against the model and the run (check_spec) and reads its
// file. Throws InterventionError naming the SPEC and what is wrong.
Interventions load_interventions(const std::vector<std::string>& texts, const Model& model,
                                 const InterventionContext& context);

// As exports and sessions record them: a JSON list of {"spec": resolved SPEC, "files":
// {FILE as written: {"path": absolute path, "sha256": hex digest}}}; "[]" when empty.
std::string interventions_json(const Interventions& interventions);

} // namespace hookscope
