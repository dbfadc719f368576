#include "bridge/io/steering_file.h"

#include "bridge/core/errors.h"
#include "bridge/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <map>
#include <system_error>

namespace hookscope {

void write_steering_file(const std::filesystem::path& path, const at::Tensor& vector, const SteeringOrigin& origin) {
    std::map<std::string, std::string> metadata{{"format", "hookscope.steering"},
                                                {"hook", origin.hook},
                                                {"position", std::to_string(origin.position)},
                                                {"source", origin.source},
                                                {"toward_tokens", nlohmann::json(origin.toward).dump()},
                                                {"away_tokens", nlohmann::json(origin.away).dump()}};
    if (origin.head) metadata["head"] = std::to_string(*origin.head);
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw ExportError("cannot write " + path.string() + ": cannot create its folder: " + ec.message());
    write_safetensors(path, {{kSteeringKey, vector}}, metadata);
}

} // namespace hookscope
