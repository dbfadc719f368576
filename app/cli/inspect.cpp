// `inspect`: the metadata and tensors of an exported cache.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"
#include "bridge/core/errors.h"
#include "bridge/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec inspect_options() {
    return spec({"--json"}, {}, 1);
}

int inspect_command(const Options& options) {
    apply_common(options);
    if (options.positionals().empty()) throw UsageError("`inspect` needs a FILE");
    if (std::filesystem::path(options.positionals().front()).extension() == ".npz") {
        throw Error("`inspect` reads safetensors exports; open .npz files with numpy.load(FILE, "
                    "allow_pickle=False) or export to .safetensors");
    }
    const auto file = SafetensorsFile::open(options.positionals().front());
    json tensors = json::array();
    for (const TensorInfo& t : file->tensors()) {
        tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"metadata", file->metadata()}, {"tensors", tensors}}.dump() << "\n";
        return kOk;
    }
    for (const auto& [key, value] : file->metadata())
        std::cout << key << ": " << value << "\n";
    if (!file->metadata().empty()) std::cout << "\n";
    for (const auto& t : tensors) {
        std::cout << t["name"].get<std::string>() << "  " << t["dtype"].get<std::string>() << "  "
                  << shape_text(t["shape"]) << "\n";
    }
    return kOk;
}

} // namespace hookscope::cli
