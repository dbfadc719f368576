#pragma once
// What a saved session promises in its metadata and tensor layout, checked from the
// safetensors header alone (no tensor data, no LibTorch), so that load_session and
// the fuzzer share one set of checks.

#include "bridge/formats/safetensors_header.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hookscope {

// The tensor that holds a session's logits, beside one tensor per hook point.
inline constexpr const char* kSessionLogits = "hookscope.logits";

struct SessionLayout {
    std::vector<int64_t> tokens;
    std::vector<std::string> token_strings; // one per token
    int64_t prompt_length = 0;              // 0 to tokens.size()
    std::string model, model_fingerprint, names_filter, generation_json, compute_dtype;
    std::string session_json; // a JSON object
};

// Checks the metadata (format, token ids and strings, prompt length, session state)
// and every tensor's type and shape against the token count: [1, pos, ...] for
// activations, [1, heads, pos, pos] with one head count for attention matrices,
// [1, pos, vocab] for the logits. Throws SessionError "<where>: <problem>".
SessionLayout check_session_layout(const std::vector<TensorInfo>& tensors,
                                   const std::map<std::string, std::string>& metadata, const std::string& where);

} // namespace hookscope
