#include "app/cli.h"

#include "app/options.h"
#include "bridge/errors.h"
#include "bridge/export.h"
#include "bridge/model.h"
#include "bridge/names_filter.h"
#include "bridge/safetensors.h"
#include "bridge/threads.h"

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace hookscope::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kUsage =
    R"(usage: hookscope [--model M] [--prompt TEXT]          open the GUI (not in this version yet)
       hookscope hooks    [--model M] [--names-filter F] [--json]
       hookscope run      [--model M] --tokens 1,2,3 [--names-filter F] --export FILE
       hookscope inspect  FILE [--json]

Sub-commands:
  hooks     list the hook points of a model (name and shape; "pos" is the sequence axis)
  run       one forward pass over token ids, recording the hook points the names filter
            selects, exported to FILE (.safetensors, or .npz for NumPy)
  inspect   list the metadata and tensors of an exported cache

Options:
  --model M          a Hugging Face checkpoint folder (config.json + *.safetensors)
  --names-filter F   comma-separated exact names, whole-name globs (* and ?) or /regex/;
                     empty selects every hook point
  --tokens IDS       token ids, separated by commas or spaces (fed exactly as given)
  --export FILE      where to write the activations (atomic: a failed write changes nothing)
  --json             one JSON object on stdout
  --dtype float32    compute precision (float32 only in this version)
  --threads N        OpenBLAS threads for matrix products (default: all cores; LibTorch uses 1)
  --help, --version

Exit codes: 0 success, 1 an error in the input or the run, 2 a usage error.
)";

const std::set<std::string> kCommonValues{"--dtype", "--threads"};

OptionSpec spec(std::set<std::string> flags, std::set<std::string> values, int positionals = 0) {
    values.insert(kCommonValues.begin(), kCommonValues.end());
    return {std::move(flags), std::move(values), {}, positionals};
}

// Settings every command shares: thread counts and the compute dtype.
void apply_common(const Options& options) {
    if (const auto dtype = options.value("--dtype"); dtype && *dtype != "float32") {
        if (*dtype == "bfloat16") throw UsageError("--dtype bfloat16 is not supported in this version yet");
        throw UsageError("--dtype must be float32 or bfloat16, got `" + *dtype + "`");
    }
    apply_thread_split(default_thread_split(options.positive_int("--threads").value_or(0)));
}

// The bundled default model, where DESIGN.md says to look for it.
std::optional<fs::path> bundled_model() {
    std::vector<fs::path> roots;
    if (const char* dir = std::getenv("HOOKSCOPE_DATA_DIR"); dir && *dir) roots.emplace_back(dir);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) roots.push_back(exe.parent_path().parent_path() / "share" / "hookscope");
    roots.emplace_back(fs::path(HOOKSCOPE_SOURCE_DIR) / "resources");
    for (const fs::path& root : roots) {
        if (fs::exists(root / "default-model" / "config.json", ec)) return root / "default-model";
    }
    return std::nullopt;
}

fs::path model_folder(const Options& options) {
    if (const auto model = options.value("--model")) {
        const fs::path folder(*model);
        std::error_code ec;
        if (!fs::is_directory(folder, ec)) {
            throw Error("model `" + *model +
                        "` is not a folder (a Hugging Face checkpoint folder with "
                        "config.json and *.safetensors)");
        }
        return folder;
    }
    if (auto bundled = bundled_model()) return *bundled;
    throw Error("no model: there is no bundled default model yet, so pass --model FOLDER "
                "(a Hugging Face checkpoint folder)");
}

json shape_json(const HookInfo& info) {
    json shape = json::array();
    for (const Dim& dim : info.shape) {
        switch (dim.kind) {
        case Dim::Kind::Positions: shape.push_back("pos"); break;
        case Dim::Kind::Heads: shape.push_back("H=" + std::to_string(dim.size)); break;
        case Dim::Kind::KvHeads: shape.push_back("Hkv=" + std::to_string(dim.size)); break;
        case Dim::Kind::Fixed: shape.push_back(dim.size); break;
        }
    }
    return shape;
}

std::string shape_text(const json& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        out += (i ? ", " : "") + (shape[i].is_string() ? shape[i].get<std::string>() : shape[i].dump());
    }
    return out + "]";
}

int hooks_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {"--model", "--names-filter"}), "hooks");
    apply_common(options);
    const ModelConfig config = load_model_config(model_folder(options));
    const NamesFilter filter(options.value("--names-filter").value_or(""));
    json hooks = json::array();
    for (const HookInfo& info : hook_points_for(config)) {
        if (filter.matches(info.name)) hooks.push_back({{"name", info.name}, {"shape", shape_json(info)}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"hooks", hooks}}.dump() << "\n";
        return kOk;
    }
    std::size_t width = 0;
    for (const auto& h : hooks)
        width = std::max(width, h["name"].get<std::string>().size());
    for (const auto& h : hooks) {
        const std::string name = h["name"].get<std::string>();
        std::cout << name << std::string(width - name.size() + 2, ' ') << shape_text(h["shape"]) << "\n";
    }
    return kOk;
}

int run_command(const std::vector<std::string>& args) {
    const Options options(
        args, spec({"--no-prepend-bos"}, {"--model", "--tokens", "--prompt", "--names-filter", "--export"}), "run");
    apply_common(options);
    if (options.value("--prompt")) {
        throw UsageError("--prompt needs a tokenizer, which this version does not read yet; pass --tokens");
    }
    const auto tokens_text = options.value("--tokens");
    if (!tokens_text) throw UsageError("`run` needs --tokens");
    const auto export_path = options.value("--export");
    if (!export_path) throw UsageError("`run` needs --export FILE");
    const std::vector<int64_t> tokens = parse_token_ids(*tokens_text);
    const NamesFilter filter(options.value("--names-filter").value_or(""));

    const fs::path folder = model_folder(options);
    const auto model = Model::load(folder);
    const ActivationCache cache = model->run_with_cache(tokens, filter);

    ExportInfo info;
    info.model = folder.string();
    info.model_fingerprint = model->fingerprint();
    for (const int64_t id : tokens)
        info.token_strings.push_back(std::to_string(id));
    info.prompt_length = static_cast<int64_t>(tokens.size());
    info.generation_json = json{{"mode", "run"}}.dump();
    export_cache(cache, *export_path, info);
    std::cout << "captured " << cache.size() << " hook points over " << tokens.size() << " positions ("
              << cache.total_bytes() << " bytes) into " << *export_path << "\n";
    return kOk;
}

int inspect_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {}, 1), "inspect");
    apply_common(options);
    if (options.positionals().empty()) throw UsageError("`inspect` needs a FILE");
    if (fs::path(options.positionals().front()).extension() == ".npz") {
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

int dispatch(const std::vector<std::string>& args) {
    if (args.empty() || args.front().rfind("-", 0) == 0) {
        for (const std::string& a : args) {
            if (a == "--help" || a == "-h") {
                std::cout << kUsage;
                return kOk;
            }
            if (a == "--version") {
                std::cout << "hookscope " << HOOKSCOPE_VERSION << "\n";
                return kOk;
            }
        }
        throw UsageError("the GUI is not part of this version yet; use a sub-command (hooks, run, inspect)");
    }
    const std::string& command = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const std::string& a : rest) {
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return kOk;
        }
    }
    if (command == "hooks") return hooks_command(rest);
    if (command == "run") return run_command(rest);
    if (command == "inspect") return inspect_command(rest);
    if (command == "tokenize" || command == "generate") {
        throw UsageError("`" + command + "` is not part of this version yet");
    }
    throw UsageError("unknown command `" + command + "`");
}

} // namespace

int run(const std::vector<std::string>& args) {
    try {
        return dispatch(args);
    } catch (const UsageError& e) {
        std::cerr << "hookscope: " << e.what() << " (see hookscope --help)\n";
        return kUsageError;
    } catch (const c10::Error& e) {
        std::cerr << "hookscope: " << e.what_without_backtrace() << "\n";
        return kRunError;
    } catch (const std::exception& e) {
        std::cerr << "hookscope: " << e.what() << "\n";
        return kRunError;
    } catch (...) {
        std::cerr << "hookscope: unexpected error\n";
        return kRunError;
    }
}

} // namespace hookscope::cli
