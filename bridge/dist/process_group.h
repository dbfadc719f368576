#pragma once
// The processes of one run, joined through LibTorch's c10d: a TCPStore (hosted by rank
// 0, or by torchrun's agent) for small keys, and a gloo process group for collectives.
// Every rank keeps a heartbeat in the store; a rank that fails says so there, and a
// rank whose heartbeat stops for the timeout is declared unreachable, so every rank
// learns which one stopped the run. LibTorch's distributed headers stay inside this
// library's sources.

#include "bridge/core/errors.h"
#include "bridge/dist/launch_config.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace at {
class Tensor;
} // namespace at

namespace hookscope {

// The run over several processes cannot go on: a rank failed, did not join or cannot
// be reached. The message names it.
class GroupError : public Error {
public:
    using Error::Error;
};

class ProcessGroup {
public:
    // Connects to the store (hosting it on rank 0 unless torchrun's agent does), waits
    // until every rank has joined and starts the gloo group. Throws GroupError naming
    // the ranks that did not join within the timeout, a store that cannot be reached
    // or hosted, a rank started twice, or ranks started with other world sizes.
    explicit ProcessGroup(const LaunchConfig& config);
    // Lets go of the store; rank 0, which may host it, first waits (at most the
    // timeout) until every other rank has let go or stopped.
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup&) = delete;
    ProcessGroup& operator=(const ProcessGroup&) = delete;

    int rank() const;
    int world_size() const;
    const LaunchConfig& config() const;

    // What stopped the run, once a rank has failed or cannot be reached (this one
    // included); nullopt while all is well. Safe from any thread.
    std::optional<std::string> failure() const;
    // Tells every rank that this one failed because of `what`. The first failure
    // reported in the run is the one every rank names. Never throws.
    void report_failure(const std::string& what) noexcept;

    // Marks step `name` done by this rank and waits until every rank has done it.
    // There is no deadline: a rank that is slow but alive keeps the others waiting,
    // one that fails or goes silent for the timeout ends the wait. Throws GroupError.
    void wait_for_all(const std::string& name);
    // Rank 0 marks step `name` done; every other rank waits until it has (as
    // wait_for_all). Throws GroupError.
    void wait_for_first(const std::string& name);
    // Rank 0's `value` for `name`, on every rank (rank 0 publishes its own; the others
    // wait for it as wait_for_first). Throws GroupError.
    std::string value_of_first(const std::string& name, const std::string& value);
    // Collective over gloo: every rank's `bytes`, in rank order, on rank 0; empty on
    // the others. Throws GroupError.
    std::vector<std::string> gather_to_first(const std::string& bytes);

    // Point to point over gloo: `tensor` (on the CPU, any shape and dtype) to rank
    // `peer`, which takes it with receive(this rank); between two ranks tensors arrive
    // in the order sent. Both wait as long as the run is alive (a slow peer is waited
    // for) and throw GroupError once it has failed, or naming `peer` when the
    // connection to it breaks.
    void send(const at::Tensor& tensor, int peer);
    at::Tensor receive(int peer);
    // The same without the header, for a tensor whose dtype and shape the receiver
    // knows: its bytes alone, taken into a contiguous tensor of that dtype and shape.
    void send_data(const at::Tensor& tensor, int peer);
    void receive_into(at::Tensor& tensor, int peer);

private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace hookscope
