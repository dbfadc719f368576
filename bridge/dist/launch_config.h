#pragma once
// How one process of a run over several finds the others, configured as `torchrun`
// configures PyTorch's workers: WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT in the environment, or the flags --world-size, --rank and
// --master HOST:PORT, which win over the environment. Under torchrun's agent
// (TORCHELASTIC_USE_AGENT_STORE=True) the agent hosts the store; otherwise rank 0 does.

#include "bridge/core/errors.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hookscope {

// A launch setting that is missing, malformed or out of range; the message names the
// flag or environment variable it came from.
class LaunchError : public Error {
public:
    using Error::Error;
};

// The flags as given on the command line (nullopt: not given).
struct LaunchFlags {
    std::optional<std::string> world_size; // --world-size
    std::optional<std::string> rank;       // --rank
    std::optional<std::string> master;     // --master HOST:PORT
    std::optional<std::string> timeout;    // --dist-timeout SECONDS
};

struct LaunchConfig {
    int world_size = 1;
    int rank = 0;
    int local_rank = 0;
    int local_world_size = 1; // processes of the run on this machine
    std::string master_host;  // where the store is hosted (rank 0's machine, or the agent's)
    uint16_t master_port = 0;
    // Set under torchrun's agent: the agent hosts the store and every rank's keys live
    // under this prefix ("/worker/attempt_<TORCHELASTIC_RESTART_COUNT>").
    std::optional<std::string> agent_store_prefix;
    std::chrono::milliseconds timeout{300'000}; // --dist-timeout

    bool distributed() const { return world_size > 1; }
    // "HOST:PORT" as messages name the store.
    std::string master_text() const;
};

inline constexpr double kDefaultDistTimeoutSeconds = 300;

// The settings of this process from `flags` and the environment (`env` returns a
// variable's value, nullopt when unset; std::getenv by default). Throws LaunchError
// naming the flag or variable: a world size or rank that is not an integer, a rank
// outside 0..W-1, a run over several processes without a rank or without a master, a
// HOST:PORT that does not parse, a timeout that is not a positive number.
LaunchConfig launch_config(const LaunchFlags& flags,
                           const std::function<std::optional<std::string>(const std::string&)>& env = {});

} // namespace hookscope
