#pragma once
// Internal to the tokenizer sources: typed reading of tokenizer.json component objects,
// with errors that name the component.

#include "bridge/core/errors.h"
#include "bridge/text/unicode.h"
#include "bridge/text/unicode_regex.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookscope::tokenizer_json {

using nlohmann::json;

// Typed access to the fields of one component object, with errors that name it.
class Fields {
public:
    Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

    const std::string& where() const { return where_; }

    const json* find(const char* key) const {
        const auto it = j_.find(key);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }
    std::string string(const char* key, std::optional<std::string> fallback = std::nullopt) const {
        const json* v = find(key);
        if (!v) {
            if (fallback) return *fallback;
            throw CheckpointError(where_ + ": `" + key + "` is missing");
        }
        if (!v->is_string()) throw CheckpointError(where_ + ": `" + key + "` must be a string, got " + v->dump());
        return v->get<std::string>();
    }
    bool boolean(const char* key, bool fallback) const {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_boolean()) throw CheckpointError(where_ + ": `" + key + "` must be true or false, got " + v->dump());
        return v->get<bool>();
    }
    std::size_t count(const char* key, std::size_t fallback) const {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_number_unsigned()) {
            throw CheckpointError(where_ + ": `" + key + "` must be a non-negative integer, got " + v->dump());
        }
        return v->get<std::size_t>();
    }
    // A single character (Metaspace's replacement, Strip's content).
    std::string character(const char* key, const std::string& fallback) const {
        std::string s = string(key, fallback);
        if (s.empty() || unicode::valid_sequence_length(s) != s.size()) {
            throw CheckpointError(where_ + ": `" + key + "` must be one character, got \"" + s + "\"");
        }
        return s;
    }
    const json& array(const char* key) const {
        const json* v = find(key);
        if (!v || !v->is_array()) throw CheckpointError(where_ + ": `" + key + "` must be a list");
        return *v;
    }
    // {"String": "..."} (literal) or {"Regex": "..."}.
    UnicodeRegex pattern(const char* key) const {
        const json* v = find(key);
        if (v && v->is_object() && v->size() == 1) {
            for (const char* kind : {"String", "Regex"}) {
                const auto it = v->find(kind);
                if (it == v->end() || !it->is_string()) continue;
                return UnicodeRegex(it->get<std::string>(),
                                    kind[0] == 'R' ? UnicodeRegex::Syntax::Regex : UnicodeRegex::Syntax::Literal,
                                    where_ + " `" + key + "`");
            }
        }
        throw CheckpointError(where_ + ": `" + key + "` must be {\"String\": ...} or {\"Regex\": ...}");
    }

private:
    const json& j_;
    std::string where_;
};

inline std::string type_of(const json& j, const std::string& where) {
    if (!j.is_object()) throw CheckpointError(where + ": must be an object, got " + j.dump());
    const auto it = j.find("type");
    if (it == j.end() || !it->is_string()) throw CheckpointError(where + ": has no `type`");
    return it->get<std::string>();
}

[[noreturn]] inline void unsupported(const std::string& where, const std::string& type, const char* supported) {
    throw CheckpointError(where + ": type `" + type + "` is not supported (supported: " + supported + ")");
}

// A `Sequence` component: each item of `list_key`, built by `make`, in order.
template <class T, class Make>
std::vector<std::unique_ptr<T>> sequence_steps(const Fields& f, const char* list_key, const std::string& where,
                                               Make&& make) {
    std::vector<std::unique_ptr<T>> steps;
    const json& list = f.array(list_key);
    for (std::size_t k = 0; k < list.size(); ++k)
        steps.push_back(make(list[k], where + "[" + std::to_string(k) + "]"));
    return steps;
}

} // namespace hookscope::tokenizer_json
