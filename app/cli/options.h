#pragma once
// Command-line parsing: `--opt value` and `--opt=value`, flags, positionals.

#include "bridge/core/cache_budget.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace hookscope::cli {

// A usage error: exit code 2, message on stderr.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::set<std::string> flags;    // take no value, e.g. "--json"
    std::set<std::string> values;   // take one value, e.g. "--model"
    std::set<std::string> repeated; // take a value and may repeat, e.g. "--stop"
    int max_positionals = 0;
};

class Options {
public:
    // Throws UsageError for unknown options, missing values and extra positionals.
    Options(const std::vector<std::string>& args, const OptionSpec& spec, const std::string& command);

    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::vector<std::string> values(const std::string& name) const;
    const std::vector<std::string>& positionals() const { return positionals_; }

    // A positive integer option; UsageError when it is not one.
    std::optional<int> positive_int(const std::string& name) const;
    // A non-negative integer (up to 2^64 - 1); UsageError when it is not one.
    std::optional<uint64_t> unsigned_int(const std::string& name) const;
    // An integer, negative or not; UsageError when it is not one.
    std::optional<int64_t> integer(const std::string& name) const;
    // A finite number; UsageError when it is not one.
    std::optional<double> number(const std::string& name) const;

private:
    std::string command_;
    std::set<std::string> flags_;
    std::map<std::string, std::vector<std::string>> values_;
    std::vector<std::string> positionals_;
};

// --cache-limit's value: a size ("500M", "8G"; see parse_byte_size) or "none" (no
// limit, nullopt). Throws UsageError for anything else.
std::optional<CacheLimit> parse_cache_limit(const std::string& text);
// The limit a command runs under: --cache-limit when given, else a share of the
// memory available now (default_cache_limit()).
std::optional<CacheLimit> cache_limit(const Options& options);

} // namespace hookscope::cli
