#pragma once
// Export of an activation cache to a file other tools read: safetensors (.safetensors
// and any other extension) or NumPy (.npz). Writes are atomic.

#include "bridge/core/precision.h"
#include "bridge/model/activation_cache.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace hookscope {

// What an export's metadata says about where its activations came from.
struct ExportInfo {
    std::string model;                      // folder or hub id
    std::string model_fingerprint;          // Checkpoint::fingerprint()
    std::vector<std::string> token_strings; // display form of each token; ids as text without a tokenizer
    int64_t prompt_length = 0;
    std::string generation_json = "{}";    // settings of the run, a JSON object
    std::string compute_dtype = "float32"; // the precision the activations were computed in
    std::string interventions_json = "[]"; // interventions_json() of the run's interventions
};

class Tokenizer;

// How token `id` is written in `token_strings`: its text (invalid UTF-8 replaced), or
// "[id]" without a tokenizer or for an id it lacks.
std::string token_text(const Tokenizer* tokenizer, int64_t id);

// ExportInfo for a run over `tokens` of which the first `prompt_length` were input.
ExportInfo export_info_for(std::string model, std::string fingerprint, const Tokenizer* tokenizer,
                           const std::vector<int64_t>& tokens, int64_t prompt_length, std::string settings_json,
                           Precision precision);

// Metadata keys and values as written to `__metadata__` (format, model, fingerprint,
// token ids and strings, prompt length, names filter, generation, dtype), where `dtype` is
// the type the tensors are stored in, plus `compute_dtype`, the precision the model
// computed them in (float32 or bfloat16), and `interventions` when the run had any.
std::map<std::string, std::string> export_metadata(const ActivationCache& cache, const ExportInfo& info,
                                                   at::ScalarType dtype);

// Writes the cache (or only `names`, in cache order; empty = all) to `path`, as float32
// unless `dtype` says otherwise. Throws NotCapturedError for a name the cache lacks and
// ExportError when writing fails; the destination is then left as it was.
void export_cache(const ActivationCache& cache, const std::filesystem::path& path, const ExportInfo& info,
                  const std::vector<std::string>& names = {}, at::ScalarType dtype = at::kFloat);

} // namespace hookscope
