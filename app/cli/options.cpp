#include "app/cli/options.h"

#include "bridge/core/system_memory.h"

#include <charconv>
#include <cmath>

namespace hookscope::cli {

Options::Options(const std::vector<std::string>& args, const OptionSpec& spec, const std::string& command)
    : command_(command) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.size() < 2 || arg.rfind("--", 0) != 0) {
            if (static_cast<int>(positionals_.size()) >= spec.max_positionals) {
                throw UsageError("unexpected argument `" + arg + "` for `" + command + "`");
            }
            positionals_.push_back(arg);
            continue;
        }
        const auto eq = arg.find('=');
        const std::string name = arg.substr(0, eq);
        if (spec.flags.count(name)) {
            if (eq != std::string::npos) throw UsageError("option " + name + " takes no value");
            flags_.insert(name);
            continue;
        }
        const bool single = spec.values.count(name) > 0;
        if (!single && !spec.repeated.count(name)) {
            throw UsageError("unknown option " + name + " for `" + command + "`");
        }
        std::string value;
        if (eq != std::string::npos) {
            value = arg.substr(eq + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            throw UsageError("option " + name + " needs a value");
        }
        auto& slot = values_[name];
        if (single && !slot.empty()) throw UsageError("option " + name + " given twice");
        slot.push_back(std::move(value));
    }
}

std::optional<std::string> Options::value(const std::string& name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.front();
}

std::vector<std::string> Options::values(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

// Option `name`'s value as a T that `valid` accepts; UsageError saying it needs `what`.
template <typename T, typename Valid>
std::optional<T> integer_option(const std::optional<std::string>& text, const std::string& name, const char* what,
                                Valid valid) {
    if (!text) return std::nullopt;
    T n = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (error != std::errc() || end != text->data() + text->size() || !valid(n)) {
        throw UsageError("option " + name + " needs " + what + ", got `" + *text + "`");
    }
    return n;
}

} // namespace

std::optional<int> Options::positive_int(const std::string& name) const {
    return integer_option<int>(value(name), name, "a positive integer", [](int n) { return n > 0; });
}

std::optional<uint64_t> Options::unsigned_int(const std::string& name) const {
    return integer_option<uint64_t>(value(name), name, "a non-negative integer", [](uint64_t) { return true; });
}

std::optional<int64_t> Options::integer(const std::string& name) const {
    return integer_option<int64_t>(value(name), name, "an integer", [](int64_t) { return true; });
}

std::optional<double> Options::number(const std::string& name) const {
    const auto text = value(name);
    if (!text) return std::nullopt;
    double x = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), x);
    if (error != std::errc() || end != text->data() + text->size() || !std::isfinite(x)) {
        throw UsageError("option " + name + " needs a number, got `" + *text + "`");
    }
    return x;
}

std::optional<CacheLimit> parse_cache_limit(const std::string& text) {
    if (text == "none") return std::nullopt;
    const auto bytes = parse_byte_size(text);
    if (!bytes) throw UsageError("--cache-limit needs a size such as 500M or 8G, or none; got `" + text + "`");
    return CacheLimit{*bytes, std::nullopt};
}

std::optional<CacheLimit> cache_limit(const Options& options) {
    if (const auto text = options.value("--cache-limit")) return parse_cache_limit(*text);
    return default_cache_limit();
}

} // namespace hookscope::cli
