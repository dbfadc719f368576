#pragma once
// The benchmarks' command lines: each option is bound to a variable, and the usage
// line is written from the same bindings.

#include "bridge/core/precision.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace hookscope::bench {

class BenchArgs {
public:
    explicit BenchArgs(std::string program) : program_(std::move(program)) {}

    // An integer option; values below `minimum` are raised to it.
    template <class Int>
    BenchArgs& integer(const std::string& name, Int& value, Int minimum, std::string metavar = "N") {
        return bind(name, metavar, [&value, minimum](const std::string& text) {
            long long parsed = 0;
            try {
                parsed = std::stoll(text);
            } catch (const std::exception&) {
                return false;
            }
            value = std::max<Int>(minimum, static_cast<Int>(parsed));
            return true;
        });
    }
    BenchArgs& text(const std::string& name, std::string& value, std::string metavar) {
        return bind(name, metavar, [&value](const std::string& text) {
            value = text;
            return true;
        });
    }
    BenchArgs& precision(const std::string& name, Precision& value) {
        return bind(name, "float32|bfloat16", [&value](const std::string& text) {
            const auto parsed = parse_precision(text);
            if (parsed) value = *parsed;
            return parsed.has_value();
        });
    }
    BenchArgs& flag(const std::string& name, bool& value) {
        options_.push_back({name, "", [&value](const std::string&) {
                                value = true;
                                return true;
                            }});
        return *this;
    }

    // Parses argv. On an unknown option, a missing value or a bad one: the usage line
    // on stderr, and false.
    bool parse(int argc, char** argv) const {
        for (int i = 1; i < argc; ++i) {
            const Option* option = find(argv[i]);
            bool ok = option != nullptr;
            if (ok && option->metavar.empty()) {
                ok = option->apply("");
            } else if (ok) {
                ok = i + 1 < argc && option->apply(argv[++i]);
            }
            if (!ok) {
                std::cerr << usage() << "\n";
                return false;
            }
        }
        return true;
    }

    std::string usage() const {
        std::string text = "usage: " + program_;
        for (const Option& o : options_)
            text += " [" + o.name + (o.metavar.empty() ? "" : " " + o.metavar) + "]";
        return text;
    }

private:
    struct Option {
        std::string name, metavar;
        std::function<bool(const std::string&)> apply;
    };

    BenchArgs& bind(const std::string& name, std::string metavar, std::function<bool(const std::string&)> apply) {
        options_.push_back({name, std::move(metavar), std::move(apply)});
        return *this;
    }
    const Option* find(const std::string& name) const {
        for (const Option& o : options_) {
            if (o.name == name) return &o;
        }
        return nullptr;
    }

    std::string program_;
    std::vector<Option> options_;
};

} // namespace hookscope::bench
