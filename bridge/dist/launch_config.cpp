#include "bridge/dist/launch_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace hookscope {

namespace {

using Env = std::function<std::optional<std::string>(const std::string&)>;

std::optional<std::string> process_env(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    if (!value || !*value) return std::nullopt;
    return std::string(value);
}

// `text` as a whole integer in [low, high]; nullopt otherwise.
std::optional<int64_t> whole_number(const std::string& text, int64_t low, int64_t high) {
    int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [at, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || at != end || value < low || value > high) return std::nullopt;
    return value;
}

// A setting that comes from a flag when given, else from the environment; `source`
// names where it came from, for messages.
struct Setting {
    std::optional<std::string> text;
    std::string source;
};

Setting setting(const std::optional<std::string>& flag, const std::string& flag_name, const Env& env,
                const std::string& variable) {
    if (flag) return {flag, flag_name};
    return {env(variable), variable};
}

int count(const Setting& s, int low, const std::string& what) {
    const auto value = whole_number(*s.text, low, 1 << 20);
    if (!value) {
        throw LaunchError(s.source + " must be " + what + " (" + std::to_string(low) + " or more), got `" + *s.text +
                          "`");
    }
    return static_cast<int>(*value);
}

uint16_t port_number(const std::string& text, const std::string& source) {
    const auto port = whole_number(text, 1, 65535);
    if (!port) throw LaunchError(source + " needs a port from 1 to 65535, got `" + text + "`");
    return static_cast<uint16_t>(*port);
}

} // namespace

std::string LaunchConfig::master_text() const {
    const bool ipv6 = master_host.find(':') != std::string::npos;
    return (ipv6 ? "[" + master_host + "]" : master_host) + ":" + std::to_string(master_port);
}

LaunchConfig launch_config(const LaunchFlags& flags, const Env& given_env) {
    const Env env = given_env ? given_env : Env(process_env);
    LaunchConfig config;

    const Setting world = setting(flags.world_size, "--world-size", env, "WORLD_SIZE");
    if (world.text) config.world_size = count(world, 1, "a whole number of processes");
    const Setting rank = setting(flags.rank, "--rank", env, "RANK");
    if (rank.text) {
        const auto value = whole_number(*rank.text, 0, config.world_size - 1);
        if (!value) {
            throw LaunchError(rank.source + " must be a rank from 0 to " + std::to_string(config.world_size - 1) +
                              " (the world size is " + std::to_string(config.world_size) + "), got `" + *rank.text +
                              "`");
        }
        config.rank = static_cast<int>(*value);
    }
    if (const auto local = env("LOCAL_WORLD_SIZE"))
        config.local_world_size = count({local, "LOCAL_WORLD_SIZE"}, 1, "a whole number of processes");
    if (const auto local = env("LOCAL_RANK")) {
        const auto value = whole_number(*local, 0, config.local_world_size - 1);
        if (!value) {
            throw LaunchError("LOCAL_RANK must be from 0 to " + std::to_string(config.local_world_size - 1) +
                              " (LOCAL_WORLD_SIZE), got `" + *local + "`");
        }
        config.local_rank = static_cast<int>(*value);
    }
    if (flags.timeout) {
        char* end = nullptr;
        const double seconds = std::strtod(flags.timeout->c_str(), &end);
        if (flags.timeout->empty() || *end != '\0' || !std::isfinite(seconds) || seconds <= 0 || seconds > 1e7)
            throw LaunchError("--dist-timeout needs a number of seconds above 0, got `" + *flags.timeout + "`");
        config.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
    }
    if (!config.distributed()) return config;

    if (!rank.text) {
        throw LaunchError("a run over " + std::to_string(config.world_size) + " processes (" + world.source +
                          ") needs this process's rank: --rank R or RANK");
    }
    if (flags.master) {
        const std::string& text = *flags.master;
        const std::size_t colon = text.rfind(':');
        std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        if (colon == std::string::npos || host.empty())
            throw LaunchError("--master needs HOST:PORT (e.g. 10.0.0.1:29500), got `" + text + "`");
        config.master_host = host;
        config.master_port = port_number(text.substr(colon + 1), "--master " + text);
        return config;
    }
    const auto addr = env("MASTER_ADDR");
    const auto port = env("MASTER_PORT");
    if (!addr || !port) {
        throw LaunchError("a run over " + std::to_string(config.world_size) + " processes (" + world.source +
                          ") needs the address of rank 0: --master HOST:PORT, or MASTER_ADDR and MASTER_PORT" +
                          (addr   ? " (MASTER_PORT is not set)"
                           : port ? " (MASTER_ADDR is not set)"
                                  : ""));
    }
    config.master_host = *addr;
    config.master_port = port_number(*port, "MASTER_PORT");
    // As PyTorch's workers do under torchrun (torch/distributed/rendezvous.py): the
    // agent's store, every key under the attempt's prefix.
    if (env("TORCHELASTIC_USE_AGENT_STORE") == std::optional<std::string>("True")) {
        const auto attempt = env("TORCHELASTIC_RESTART_COUNT");
        if (!attempt || !whole_number(*attempt, 0, INT64_MAX)) {
            throw LaunchError("TORCHELASTIC_USE_AGENT_STORE=True needs TORCHELASTIC_RESTART_COUNT (a whole number), " +
                              std::string(attempt ? "got `" + *attempt + "`" : "which is not set"));
        }
        config.agent_store_prefix = "/worker/attempt_" + *attempt;
    }
    return config;
}

} // namespace hookscope
