#include "bridge/core/intervention_spec.h"

#include "bridge/core/errors.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace hookscope {
namespace {

std::string_view trimmed(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && space(s.back()))
        s.remove_suffix(1);
    return s;
}

[[noreturn]] void fail(std::string_view spec, const std::string& why) {
    throw InterventionError("intervention `" + std::string(spec) + "`: " + why);
}

// A non-negative decimal integer filling all of `text`.
std::optional<int64_t> parse_index(std::string_view text) {
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
}

// P or P1-P2 with P1 <= P2.
PositionRange parse_range(std::string_view spec, std::string_view text, std::string_view what) {
    const std::size_t dash = text.find('-');
    const auto first = parse_index(text.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : parse_index(text.substr(dash + 1));
    if (!first || !last) {
        fail(spec, std::string(what) + " `" + std::string(text) +
                       "` is not a position or an inclusive range P1-P2 of non-negative integers");
    }
    if (*last < *first) fail(spec, std::string(what) + " `" + std::string(text) + "` ends before it starts");
    return {*first, *last};
}

std::string range_text(const PositionRange& r) {
    return r.first == r.last ? std::to_string(r.first) : std::to_string(r.first) + "-" + std::to_string(r.last);
}

// The shortest decimal that reads back as `value`.
std::string number_text(double value) {
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, error == std::errc() ? end : buffer);
}

void parse_action(std::string_view spec, std::string_view action, InterventionSpec& out) {
    using A = InterventionAction;
    if (action == "zero") {
        out.action = A::Zero;
    } else if (action == "mean") {
        out.action = A::Mean;
    } else if (action.starts_with("mean:")) {
        out.action = A::Mean;
        out.mean_range = parse_range(spec, action.substr(5), "mean range");
    } else if (action.starts_with("add:")) {
        out.action = A::Add;
        std::string_view rest = action.substr(4);
        const std::size_t file_end = std::min(rest.find('#'), rest.find('*'));
        out.file = std::string(rest.substr(0, file_end));
        rest = file_end == std::string_view::npos ? std::string_view{} : rest.substr(file_end);
        if (rest.starts_with('#')) {
            const std::size_t key_end = rest.find('*');
            out.key = std::string(rest.substr(1, key_end == std::string_view::npos ? key_end : key_end - 1));
            if (out.key.empty()) fail(spec, "`#` must be followed by the name of a tensor in the file");
            rest = key_end == std::string_view::npos ? std::string_view{} : rest.substr(key_end);
        }
        if (rest.starts_with('*')) {
            const std::string number(rest.substr(1));
            char* end = nullptr;
            out.scale = std::strtod(number.c_str(), &end);
            if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(out.scale) ||
                number.find_first_of("xXpP") != std::string::npos) {
                fail(spec, "scale `" + number + "` is not a decimal number");
            }
        }
    } else if (action.starts_with("patch:")) {
        out.action = A::Patch;
        out.file = std::string(action.substr(6));
        if (out.file.find_first_of("#*") != std::string::npos) {
            fail(spec, "patch takes a cache file alone, without `#KEY` or `*SCALE`");
        }
    } else {
        fail(spec, "unknown action `" + std::string(action) +
                       "` (expected zero, mean, mean:P1-P2, add:FILE[#KEY][*SCALE] or patch:FILE)");
    }
    if ((out.action == A::Add || out.action == A::Patch) && out.file.empty()) {
        fail(spec, std::string(out.action == A::Add ? "add" : "patch") + " needs a file");
    }
}

bool is_matrix(Site site) {
    return site == Site::AttnScores || site == Site::AttnPattern;
}

} // namespace

InterventionSpec InterventionSpec::parse(std::string_view text) {
    const std::string_view spec = trimmed(text);
    if (spec.empty()) fail(spec, "empty: expected HOOK[@HEAD][:POSITIONS]=ACTION");
    const std::size_t equals = spec.find('=');
    if (equals == std::string_view::npos) fail(spec, "no `=`: expected HOOK[@HEAD][:POSITIONS]=ACTION");

    InterventionSpec out;
    std::string_view target = spec.substr(0, equals);
    if (const std::size_t colon = target.find(':'); colon != std::string_view::npos) {
        out.positions = parse_range(spec, target.substr(colon + 1), "positions");
        target = target.substr(0, colon);
    }
    if (const std::size_t at = target.find('@'); at != std::string_view::npos) {
        const auto head = parse_index(target.substr(at + 1));
        if (!head) fail(spec, "head `" + std::string(target.substr(at + 1)) + "` is not a non-negative integer");
        out.head = head;
        target = target.substr(0, at);
    }
    const auto point = HookPoint::parse(target);
    if (!point) fail(spec, "`" + std::string(target) + "` is not a hook point name (e.g. blocks.0.hook_resid_pre)");
    out.point = *point;
    parse_action(spec, spec.substr(equals + 1), out);
    return out;
}

std::string InterventionSpec::to_string() const {
    // Appended piece by piece (`"@" + std::to_string(...)` trips GCC 12's overflow warning).
    std::string text = point.to_string();
    if (head) text.append("@").append(std::to_string(*head));
    if (positions) text.append(":").append(range_text(*positions));
    text.append("=");
    switch (action) {
    case InterventionAction::Zero: text.append("zero"); break;
    case InterventionAction::Mean:
        text.append("mean");
        if (mean_range) text.append(":").append(range_text(*mean_range));
        break;
    case InterventionAction::Add:
        text.append("add:").append(file);
        if (!key.empty()) text.append("#").append(key);
        if (scale != 1) text.append("*").append(number_text(scale));
        break;
    case InterventionAction::Patch: text.append("patch:").append(file); break;
    }
    return text;
}

std::optional<HeadAxis> head_axis(const HookInfo& info) {
    for (std::size_t axis = 0; axis < info.shape.size(); ++axis) {
        const Dim& dim = info.shape[axis];
        if (dim.kind == Dim::Kind::Heads || dim.kind == Dim::Kind::KvHeads) {
            return HeadAxis{static_cast<int>(axis), dim.size};
        }
    }
    return std::nullopt;
}

int position_axis(const HookInfo& info) {
    for (std::size_t axis = 0; axis < info.shape.size(); ++axis) {
        if (info.shape[axis].kind == Dim::Kind::Positions) return static_cast<int>(axis);
    }
    return 1;
}

const HookInfo& check_spec(const InterventionSpec& spec, const std::vector<HookInfo>& points, int64_t first_pass_length,
                           int64_t max_positions) {
    const std::string text = spec.to_string();
    const HookInfo* found = find_hook(points, spec.point);
    if (!found) fail(text, "this model has no hook point `" + spec.point.to_string() + "`");
    if (spec.head) {
        const auto heads = head_axis(*found);
        if (!heads) fail(text, "`" + found->name + "` has no head axis, so it takes no @HEAD");
        if (*spec.head >= heads->count) {
            fail(text, "head " + std::to_string(*spec.head) + " is out of range: `" + found->name + "` has " +
                           std::to_string(heads->count) + " heads (0-" + std::to_string(heads->count - 1) + ")");
        }
    }
    if (spec.positions && spec.positions->last >= max_positions) {
        fail(text, "positions " + range_text(*spec.positions) + " reach past the sequence: this run has at most " +
                       std::to_string(max_positions) + " positions (0-" + std::to_string(max_positions - 1) + ")");
    }
    if (spec.mean_range && spec.mean_range->last >= first_pass_length) {
        fail(text, "mean positions " + range_text(*spec.mean_range) + " reach past the first forward pass, which has " +
                       std::to_string(first_pass_length) + " positions (0-" + std::to_string(first_pass_length - 1) +
                       ")");
    }
    if (is_matrix(spec.point.site) && spec.action != InterventionAction::Zero &&
        spec.action != InterventionAction::Patch) {
        fail(text, "attention scores and patterns take only zero and patch");
    }
    return *found;
}

InterventionSpec resolved(InterventionSpec spec, int64_t first_pass_length) {
    if (spec.action == InterventionAction::Mean && !spec.mean_range) {
        spec.mean_range = PositionRange{0, first_pass_length - 1};
    }
    return spec;
}

std::optional<double> steering_scale(std::string_view text) {
    try {
        const InterventionSpec spec = InterventionSpec::parse(text);
        if (spec.action == InterventionAction::Add) return spec.scale;
    } catch (const Error&) {
    }
    return std::nullopt;
}

} // namespace hookscope
