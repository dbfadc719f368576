#include "bridge/io/intervention_files.h"

#include "bridge/core/errors.h"
#include "bridge/core/shape_text.h"
#include "bridge/formats/sha256.h"
#include "bridge/io/cache_file.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace hookscope {
namespace {

[[noreturn]] void fail(const InterventionSpec& spec, const std::string& why) {
    throw InterventionError("intervention `" + spec.to_string() + "`: " + why);
}

// The shape one position of the hook holds (one head's, with @HEAD): what `add` adds.
std::vector<int64_t> trailing_shape(const InterventionSpec& spec, const HookInfo& hook) {
    const int seq = position_axis(hook);
    const auto heads = head_axis(hook);
    std::vector<int64_t> shape;
    for (int axis = seq + 1; axis < static_cast<int>(hook.shape.size()); ++axis) {
        if (spec.head && heads && axis == heads->axis) continue;
        shape.push_back(hook.shape[static_cast<std::size_t>(axis)].size);
    }
    return shape;
}

std::filesystem::path absolute_file(const InterventionSpec& spec, const InterventionContext& context) {
    std::filesystem::path path(spec.file);
    if (path.is_relative()) path = context.base / path;
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(path, error).lexically_normal();
    if (error || !std::filesystem::is_regular_file(absolute, error)) fail(spec, "no file `" + path.string() + "`");
    return absolute;
}

void read_vector(Intervention& item, const InterventionContext& context) {
    const InterventionSpec& spec = item.spec;
    item.file_path = absolute_file(spec, context);
    std::shared_ptr<const SafetensorsFile> file;
    try {
        file = SafetensorsFile::open(item.file_path);
    } catch (const Error& e) {
        fail(spec, e.what());
    }
    std::string key = spec.key;
    if (key.empty()) {
        if (file->tensors().size() != 1) {
            fail(spec, "`" + item.file_path.string() + "` holds " + std::to_string(file->tensors().size()) +
                           " tensors: name one with #KEY");
        }
        key = file->tensors().front().name;
    } else if (!file->find(key)) {
        fail(spec, "`" + item.file_path.string() + "` has no tensor `" + key + "`");
    }
    const at::Tensor vector = file->tensor(key);
    const std::vector<int64_t> want = trailing_shape(spec, item.hook);
    if (vector.sizes() != at::IntArrayRef(want)) {
        fail(spec, "tensor `" + key + "` has shape " + shape_text(vector.sizes()) + ", but `" + item.hook.name + "`" +
                       (spec.head ? " (one head)" : "") + " takes " + shape_text(want));
    }
    item.vector = vector.to(at::kFloat) * spec.scale;
}

void read_source(Intervention& item, const InterventionContext& context) {
    const InterventionSpec& spec = item.spec;
    const at::Tensor* source = nullptr;
    OpenedCache opened;
    std::string from;
    if (spec.patches_from_pinned()) {
        if (!context.pinned) fail(spec, "there is no pinned run to patch from");
        source = context.pinned->find(item.hook.name);
        from = "the pinned run";
    } else {
        item.file_path = absolute_file(spec, context);
        try {
            opened = open_cache_file(item.file_path);
        } catch (const Error& e) {
            fail(spec, e.what());
        }
        source = opened.cache.find(item.hook.name);
        from = "`" + item.file_path.string() + "`";
    }
    if (!source) fail(spec, from + " did not record `" + item.hook.name + "`");

    // Every axis but the positions (and an attention matrix's keys) must match.
    const int seq = position_axis(item.hook);
    const std::vector<int64_t> want = concrete_shape(item.hook, source->dim() > seq ? source->size(seq) : 0);
    if (source->sizes() != at::IntArrayRef(want)) {
        fail(spec, from + " holds `" + item.hook.name + "` as " + shape_text(source->sizes()) +
                       ", which does not fit this model's " + shape_text(want));
    }
    const int64_t held = source->size(seq);
    if (spec.positions && spec.positions->last >= held) {
        fail(spec, from + " holds positions 0-" + std::to_string(held - 1) + " of `" + item.hook.name + "`, not " +
                       std::to_string(spec.positions->first) + "-" + std::to_string(spec.positions->last));
    }
    item.source = source->to(at::kCPU, at::kFloat).contiguous();
}

} // namespace

Interventions load_interventions(const std::vector<std::string>& texts, const Model& model,
                                 const InterventionContext& context) {
    std::vector<Intervention> items;
    for (const std::string& text : texts) {
        Intervention item;
        item.spec = resolved(InterventionSpec::parse(text), context.first_pass_length);
        item.hook = check_spec(item.spec, model.hook_points(), context.first_pass_length, context.max_positions);
        if (item.spec.action == InterventionAction::Add) read_vector(item, context);
        if (item.spec.action == InterventionAction::Patch) read_source(item, context);
        if (!item.file_path.empty()) {
            const auto digest = file_sha256(item.file_path);
            if (!digest) fail(item.spec, "cannot read `" + item.file_path.string() + "`");
            item.file_sha256 = *digest;
        }
        items.push_back(std::move(item));
    }
    return Interventions(std::move(items));
}

std::string interventions_json(const Interventions& interventions) {
    nlohmann::json list = nlohmann::json::array();
    for (const Intervention& item : interventions.items()) {
        nlohmann::json files = nlohmann::json::object();
        if (!item.file_path.empty()) {
            files[item.spec.file] = {{"path", item.file_path.string()}, {"sha256", item.file_sha256}};
        }
        list.push_back({{"spec", item.spec.to_string()}, {"files", files}});
    }
    return list.dump();
}

} // namespace hookscope
