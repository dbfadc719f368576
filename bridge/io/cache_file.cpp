#include "bridge/io/cache_file.h"

#include "bridge/core/errors.h"
#include "bridge/core/hook_point.h"
#include "bridge/io/npz.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>

namespace hookscope {
namespace {

// The rank of a hook point's tensor with its batch axis, and which axis is positions.
struct Layout {
    int64_t rank = 3;
    int64_t positions_axis = 1;
};

Layout layout_of(Site site) {
    switch (site) {
    case Site::AttnScores:
    case Site::AttnPattern: return {4, 2};
    case Site::AttnQ:
    case Site::AttnK:
    case Site::AttnV:
    case Site::AttnRotQ:
    case Site::AttnRotK:
    case Site::AttnZ: return {4, 1};
    default: return {3, 1};
    }
}

// Our export metadata (strings, as safetensors keeps them), when the file has it.
void read_our_metadata(const std::map<std::string, std::string>& metadata, OpenedCache& out,
                       std::vector<int64_t>& tokens, const std::string& where) {
    const auto format = metadata.find("format");
    if (format == metadata.end() || format->second.rfind("hookscope.", 0) != 0) return;
    const auto json_of = [&](const char* key) {
        const auto it = metadata.find(key);
        return it == metadata.end() ? nlohmann::json()
                                    : nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    };
    const nlohmann::json ids = json_of("token_ids"), strings = json_of("token_strings");
    if (ids.is_array()) {
        for (const auto& id : ids) {
            if (!id.is_number_integer()) throw SessionError(where + ": metadata `token_ids` holds a non-integer");
            tokens.push_back(id.get<int64_t>());
        }
        out.token_ids_known = true;
    }
    if (strings.is_array() && strings.size() == tokens.size()) {
        for (const auto& s : strings)
            out.token_strings.push_back(s.is_string() ? s.get<std::string>() : std::string("?"));
    }
    if (const auto it = metadata.find("prompt_length"); it != metadata.end()) {
        try {
            out.prompt_length = std::clamp<int64_t>(std::stoll(it->second), 0, static_cast<int64_t>(tokens.size()));
        } catch (const std::exception&) {
            out.prompt_length = 0;
        }
    }
    if (const auto it = metadata.find("model"); it != metadata.end()) out.model = it->second;
    // A list of {"spec": TEXT, "files": {...}}; anything else records nothing usable.
    if (const nlohmann::json list = json_of("interventions"); list.is_array()) {
        for (const auto& item : list) {
            if (item.is_object() && item.contains("spec") && item["spec"].is_string())
                out.interventions.push_back(item["spec"].get<std::string>());
        }
        out.interventions_json = metadata.at("interventions");
    }
}

} // namespace

std::optional<std::string> hooked_transformer_name(const std::string& bridge_name) {
    static const std::vector<std::pair<std::regex, std::string>> kAliases = [] {
        std::vector<std::pair<std::regex, std::string>> table;
        for (const auto& [from, to] : std::vector<std::pair<const char*, const char*>>{
                 {R"(blocks\.(\d+)\.hook_in)", "blocks.$1.hook_resid_pre"},
                 {R"(blocks\.(\d+)\.hook_out)", "blocks.$1.hook_resid_post"},
                 {R"(blocks\.(\d+)\.attn\.hook_out)", "blocks.$1.hook_attn_out"},
                 {R"(blocks\.(\d+)\.mlp\.hook_out)", "blocks.$1.hook_mlp_out"},
                 {R"(blocks\.(\d+)\.attn\.([qkv])\.hook_out)", "blocks.$1.attn.hook_$2"},
                 {R"(blocks\.(\d+)\.attn\.o\.hook_in)", "blocks.$1.attn.hook_z"},
                 {R"(blocks\.(\d+)\.mlp\.(in|input)\.hook_out)", "blocks.$1.mlp.hook_pre"},
                 {R"(blocks\.(\d+)\.mlp\.out\.hook_in)", "blocks.$1.mlp.hook_post"},
                 {R"(embed\.hook_out)", "hook_embed"},
                 {R"(pos_embed\.hook_out)", "hook_pos_embed"},
                 {R"(hook_unembed)", "unembed.hook_out"},
             }) {
            table.emplace_back(std::regex(from), to);
        }
        return table;
    }();
    for (const auto& [pattern, replacement] : kAliases) {
        if (std::regex_match(bridge_name, pattern)) return std::regex_replace(bridge_name, pattern, replacement);
    }
    return std::nullopt;
}

OpenedCache open_cache_file(const std::filesystem::path& path) {
    const std::string where = path.string();
    NamedTensors tensors;
    std::map<std::string, std::string> metadata;
    if (path.extension() == ".npz") {
        NpzContents npz = read_npz(path);
        tensors = std::move(npz.arrays);
        if (npz.metadata_json) {
            const auto j = nlohmann::json::parse(*npz.metadata_json, nullptr, /*allow_exceptions=*/false);
            if (j.is_object()) {
                for (const auto& [key, value] : j.items()) {
                    if (value.is_string()) metadata[key] = value.get<std::string>();
                }
            }
        }
    } else {
        std::shared_ptr<const SafetensorsFile> file;
        try {
            file = SafetensorsFile::open(path);
        } catch (const Error& e) {
            throw SessionError(e.what());
        }
        metadata = file->metadata();
        for (const TensorInfo& t : file->tensors())
            tensors.emplace_back(t.name, file->tensor(t.name));
    }

    OpenedCache out;
    std::vector<int64_t> tokens;
    read_our_metadata(metadata, out, tokens, where);

    // Hook names first as written, then TransformerBridge names for hooks not already there.
    std::vector<std::pair<std::string, at::Tensor>> hooks, other;
    std::set<std::string> seen;
    struct Aliased {
        std::string name, alias;
        at::Tensor tensor;
    };
    std::vector<Aliased> aliased;
    for (auto& [name, tensor] : tensors) {
        if (name == "hookscope.logits") continue; // a session's logits
        if (HookPoint::parse(name)) {
            seen.insert(name);
            hooks.emplace_back(name, tensor);
        } else if (auto alias = hooked_transformer_name(name)) {
            aliased.push_back({name, std::move(*alias), tensor});
        } else {
            other.emplace_back(name, tensor);
        }
    }
    int read_as_alias = 0;
    for (Aliased& a : aliased) {
        if (!HookPoint::parse(a.alias) || !seen.insert(a.alias).second) {
            other.emplace_back(a.name, a.tensor); // the same tensor under its other name
            continue;
        }
        hooks.emplace_back(a.alias, a.tensor);
        ++read_as_alias;
    }
    if (hooks.empty()) {
        throw SessionError(where +
                           ": no tensor is named as a TransformerLens hook point (such as "
                           "blocks.0.hook_resid_pre); " +
                           std::to_string(other.size()) + " other tensors");
    }
    if (read_as_alias) {
        out.notes.push_back(read_as_alias == 1
                                ? std::string("1 TransformerBridge name read as its HookedTransformer alias")
                                : std::to_string(read_as_alias) +
                                      " TransformerBridge names read as their HookedTransformer aliases");
    }

    // Batch axes: added where missing, the first sequence kept where there are more.
    int added = 0, narrowed = 0;
    int64_t batch = 1;
    std::optional<int64_t> positions;
    std::string positions_from;
    if (out.token_ids_known) {
        positions = static_cast<int64_t>(tokens.size());
        positions_from = "the metadata's token ids";
    }
    for (auto& [name, tensor] : hooks) {
        const Layout layout = layout_of(HookPoint::parse(name)->site);
        if (tensor.dim() == layout.rank - 1) {
            tensor = tensor.unsqueeze(0);
            ++added;
        } else if (tensor.dim() == layout.rank && tensor.size(0) != 1) {
            batch = tensor.size(0);
            tensor = tensor.narrow(0, 0, 1).contiguous();
            ++narrowed;
        } else if (tensor.dim() != layout.rank) {
            throw SessionError(where + ": `" + name + "` has " + std::to_string(tensor.dim()) + " axes; a " + name +
                               " tensor has " + std::to_string(layout.rank) + " (or " +
                               std::to_string(layout.rank - 1) + " without the batch)");
        }
        const int64_t p = tensor.size(layout.positions_axis);
        if (!positions) {
            positions = p;
            positions_from = "`" + name + "`";
        } else if (p != *positions) {
            throw SessionError(where + ": `" + name + "` covers " + std::to_string(p) + " positions, but " +
                               positions_from + " " + std::to_string(*positions));
        }
        if (tensor.is_floating_point() && tensor.scalar_type() != at::kFloat) tensor = tensor.to(at::kFloat);
    }
    if (added) out.notes.push_back("a batch dimension added to " + std::to_string(added) + " tensors");
    if (narrowed) {
        out.notes.push_back("a batch of " + std::to_string(batch) + " sequences: the first is shown");
    }
    if (!out.token_ids_known) tokens.assign(static_cast<std::size_t>(*positions), -1);
    out.cache = ActivationCache(std::move(tokens), metadata.count("names_filter") ? metadata["names_filter"] : "");
    for (auto& [name, tensor] : hooks)
        out.cache.add(name, std::move(tensor));
    for (auto& [name, tensor] : other) {
        out.other.push_back(name);
        out.cache.add(name, std::move(tensor));
    }
    return out;
}

} // namespace hookscope
