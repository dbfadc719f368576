#pragma once
// The interventions a run had, as an export of ours records them (metadata key
// `interventions`: interventions_json() of the run's), read back from the file.

#include <filesystem>
#include <string>
#include <vector>

namespace hookscope {

struct RecordedInterventions {
    std::vector<std::string> specs; // the resolved SPEC texts, in order
    std::string json = "[]";        // as recorded
};

// What `path` (.npz by its extension, else safetensors) records; none for a file
// without the key (a run without interventions, or a file not ours). Only the metadata
// is read from a safetensors file. Throws SessionError for an unreadable file.
RecordedInterventions recorded_interventions(const std::filesystem::path& path);

} // namespace hookscope
