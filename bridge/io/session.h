#pragma once
// A saved session: everything a run left in the window, in one safetensors file that
// is also an ordinary export (its metadata, one tensor per hook point), plus
// the logits (`hookscope.logits`) and `session` metadata: the window's state as JSON
// (prompt, settings, stop reason, ...). Opening it restores the views without running
// the model.

#include "bridge/io/export.h"
#include "bridge/model/activation_cache.h"

#include <filesystem>
#include <string>

namespace hookscope {

struct Session {
    ActivationCache cache;
    ExportInfo info;          // model, fingerprint, token strings, prompt length, settings, compute dtype
    std::string session_json; // the window's state, a JSON object
};

// Writes atomically (a failed write leaves `path` as it was). Throws ExportError.
void save_session(const std::filesystem::path& path, const ActivationCache& cache, const ExportInfo& info,
                  const std::string& session_json);

// Throws SessionError (what is wrong, and where) for a file that is not a session or
// is inconsistent (e.g. a tensor whose positions disagree with the token ids).
Session load_session(const std::filesystem::path& path);

// Whether `path` is a safetensors file whose metadata says it is a session (false for
// any other file, or one that cannot be read).
bool is_session_file(const std::filesystem::path& path);

} // namespace hookscope
