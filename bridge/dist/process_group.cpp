#include "bridge/dist/process_group.h"

// USE_C10D_GLOO is defined for this library (the class is hidden without it).
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

namespace hookscope {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::vector<uint8_t> bytes_of(const std::string& text) {
    return {text.begin(), text.end()};
}

std::string text_of(const std::vector<uint8_t>& bytes) {
    return {bytes.begin(), bytes.end()};
}

// LibTorch's errors carry a C++ backtrace in what(); messages want the sentence.
std::string error_text(const std::exception& e) {
    if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
    return e.what();
}

std::string seconds_text(milliseconds duration) {
    std::ostringstream out;
    out << static_cast<double>(duration.count()) / 1000 << " s";
    return out.str();
}

// "rank 2", "ranks 1, 3".
std::string ranks_text(const std::vector<int>& ranks) {
    std::string text = ranks.size() == 1 ? "rank " : "ranks ";
    for (std::size_t k = 0; k < ranks.size(); ++k)
        text += (k ? ", " : "") + std::to_string(ranks[k]);
    return text;
}

std::string rank_key(const std::string& what, int rank) {
    return what + "/" + std::to_string(rank);
}

} // namespace

struct ProcessGroup::State {
    LaunchConfig config;
    c10::intrusive_ptr<c10d::Store> store; // this run's keys, under "hookscope/"
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
    milliseconds beat{}; // between heartbeats, and between the monitor's looks at the others

    mutable std::mutex mutex; // guards what follows
    std::optional<std::string> failure;
    std::vector<Clock::time_point> last_seen; // when each rank's heartbeat last moved
    c10d::Work* transfer = nullptr;           // the send or receive being waited for
    bool stopping = false;
    std::condition_variable wake;
    std::thread monitor;

    ~State() { stop_monitor(); }

    // Who hosts the store, for messages.
    std::string store_text() const {
        return "the store at " + config.master_text() +
               (config.agent_store_prefix ? " (torchrun's agent's)" : " (hosted by rank 0)");
    }

    // Newer PyTorch changed the TCPStore protocol (a validation query first, every
    // query renumbered): an agent from a PyTorch other than 1.13 drops this client.
    std::string agent_hint() const {
        return config.agent_store_prefix
                   ? "; if torchrun comes from a PyTorch other than 1.13, its store does not speak "
                     "LibTorch 1.13's protocol: pass --master HOST:PORT with a free port, and rank "
                     "0 hosts the store instead"
                   : "";
    }

    std::string lost_store(const std::exception& e) const {
        if (config.agent_store_prefix)
            return "lost the connection to " + store_text() + ": " + error_text(e) + agent_hint();
        return "rank 0 cannot be reached: lost the connection to " + store_text() + ": " + error_text(e);
    }

    void fail(const std::string& what) {
        const std::lock_guard lock(mutex);
        if (!failure) failure = what;
        // A transfer with a rank that has gone would otherwise wait out the timeout.
        if (transfer) transfer->abort();
    }

    std::optional<std::string> current_failure() const {
        const std::lock_guard lock(mutex);
        return failure;
    }

    // Publishes `what` as the reason the run stops unless a rank published one first;
    // this rank then stops for that first reason. Returns it.
    std::string raise(const std::string& what) {
        std::string first = what;
        try {
            first = text_of(store->compareSet("abort", {}, bytes_of(what)));
        } catch (const std::exception&) {
            // The store is gone: this rank still stops, for its own reason.
        }
        fail(first);
        return *current_failure();
    }

    bool closed(int rank) const { return store->check({rank_key("closed", rank)}); }

    // The monitor: this rank's heartbeat, and the others' as far as this rank watches
    // them (rank 0 all of them, every other rank rank 0, which relays what it finds
    // through the "abort" key).
    void watch() {
        std::vector<int64_t> beats(static_cast<std::size_t>(config.world_size), -1);
        std::unique_lock lock(mutex);
        while (!stopping) {
            lock.unlock();
            try {
                store->add(rank_key("alive", config.rank), 1);
                if (store->check({"abort"})) fail(text_of(store->get("abort")));
                const auto now = Clock::now();
                for (int r = 0; r < config.world_size; ++r) {
                    if (r == config.rank || (config.rank != 0 && r != 0)) continue;
                    const int64_t count = store->add(rank_key("alive", r), 0);
                    const auto at = static_cast<std::size_t>(r);
                    std::unique_lock seen(mutex);
                    if (count != beats[at]) {
                        beats[at] = count;
                        last_seen[at] = now;
                    } else if (now - last_seen[at] > config.timeout && !failure) {
                        seen.unlock();
                        if (!closed(r)) {
                            raise("rank " + std::to_string(r) + " cannot be reached: no sign of it for " +
                                  seconds_text(config.timeout) + " (--dist-timeout)");
                        }
                    }
                }
            } catch (const std::exception& e) {
                fail(lost_store(e));
                lock.lock();
                return;
            }
            lock.lock();
            wake.wait_for(lock, beat, [&] { return stopping; });
        }
    }

    void start_monitor() {
        {
            const std::lock_guard lock(mutex);
            last_seen.assign(static_cast<std::size_t>(config.world_size), Clock::now());
        }
        monitor = std::thread([this] { watch(); });
    }

    void stop_monitor() {
        {
            const std::lock_guard lock(mutex);
            stopping = true;
        }
        wake.notify_all();
        if (monitor.joinable()) monitor.join();
    }

    // Polls `done` until it holds; throws GroupError once the run has failed.
    template <typename Done> void wait_until(Done done) {
        const milliseconds poll = std::min(beat, milliseconds(50));
        for (;;) {
            if (const auto f = current_failure()) throw GroupError(*f);
            try {
                if (done()) return;
            } catch (const GroupError&) {
                throw;
            } catch (const std::exception& e) {
                if (const auto f = current_failure()) throw GroupError(*f);
                throw GroupError(lost_store(e));
            }
            std::this_thread::sleep_for(poll);
        }
    }

    std::vector<std::string> all_keys(const std::string& what) const {
        std::vector<std::string> keys;
        for (int r = 0; r < config.world_size; ++r)
            keys.push_back(rank_key(what, r));
        return keys;
    }

    // Waits for `work`, a send to or receive from `peer`, in slices of a poll so that a
    // failure elsewhere in the run ends the wait.
    void wait_for_transfer(c10d::Work& work, int peer);

    void connect();
    void join();
    void start_gloo();
    void leave_unstarted() noexcept;
    void close() noexcept;
};

void ProcessGroup::State::connect() {
    c10d::TCPStoreOptions options;
    options.port = config.master_port;
    options.isServer = !config.agent_store_prefix && config.rank == 0;
    options.numWorkers = static_cast<std::size_t>(config.world_size);
    options.waitWorkers = false; // joining is counted below, by rank, to name who is missing
    options.timeout = config.timeout;
    c10::intrusive_ptr<c10d::Store> tcp;
    try {
        tcp = c10::make_intrusive<c10d::TCPStore>(config.master_host, options);
    } catch (const std::exception& e) {
        if (options.isServer)
            throw GroupError("rank 0 cannot host the store at " + config.master_text() + ": " + error_text(e));
        throw GroupError("rank " + std::to_string(config.rank) + " cannot reach " + store_text() + " within " +
                         seconds_text(config.timeout) + " (--dist-timeout): " + error_text(e) + agent_hint());
    }
    // As PyTorch's workers under torchrun: every key under the attempt's prefix.
    if (config.agent_store_prefix) tcp = c10::make_intrusive<c10d::PrefixStore>(*config.agent_store_prefix, tcp);
    store = c10::make_intrusive<c10d::PrefixStore>("hookscope", tcp);
}

void ProcessGroup::State::join() {
    const std::string me = std::to_string(config.rank);
    const std::string world = std::to_string(config.world_size);
    const auto deadline = Clock::now() + config.timeout;
    try {
        if (store->add(rank_key("joined", config.rank), 1) > 1)
            throw GroupError(raise("rank " + me + " was started twice"));
        const std::string recorded = text_of(store->compareSet("world_size", {}, bytes_of(world)));
        if (recorded != world) {
            throw GroupError(raise("rank " + me + " was started with world size " + world +
                                   ", the ranks before it with world size " + recorded));
        }
    } catch (const GroupError&) {
        throw;
    } catch (const std::exception& e) {
        throw GroupError(lost_store(e));
    }
    const std::vector<std::string> joined = all_keys("joined");
    wait_until([&] {
        // No monitor runs yet: a rank that gives up joining says why under "abort".
        if (store->check({"abort"})) {
            fail(text_of(store->get("abort")));
            throw GroupError(*current_failure());
        }
        if (store->check(joined)) return true;
        if (Clock::now() < deadline) return false;
        std::vector<int> missing;
        for (int r = 0; r < config.world_size; ++r) {
            if (!store->check({joined[static_cast<std::size_t>(r)]})) missing.push_back(r);
        }
        throw GroupError(raise(ranks_text(missing) + " of " + world + " did not join within " +
                               seconds_text(config.timeout) + " (--dist-timeout) at " + store_text()));
    });
}

void ProcessGroup::State::start_gloo() {
    auto options = c10d::ProcessGroupGloo::Options::create(config.timeout);
    try {
        // As torch.distributed: GLOO_SOCKET_IFNAME names the interfaces, else the
        // address the host name resolves to (loopback when it resolves to none).
        if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names && *names) {
            std::stringstream list(names);
            for (std::string name; std::getline(list, name, ',');)
                options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
        } else {
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        options->threads = static_cast<int>(options->devices.size()) * 2;
        gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store),
                                                           config.rank, config.world_size, options);
    } catch (const std::exception& e) {
        if (const auto f = current_failure()) throw GroupError(*f);
        throw GroupError(
            raise("rank " + std::to_string(config.rank) + " cannot start the gloo process group: " + error_text(e)));
    }
}

// After joining failed: the other ranks read why from the store, so rank 0, which may
// host it, gives them a moment to do so before it goes.
void ProcessGroup::State::leave_unstarted() noexcept {
    try {
        if (config.rank != 0) {
            store->set(rank_key("closed", config.rank), bytes_of("1"));
            return;
        }
        const auto deadline = Clock::now() + std::min(config.timeout, milliseconds(5000));
        for (int r = 1; r < config.world_size && Clock::now() < deadline;) {
            if (!store->check({rank_key("joined", r)}) || closed(r)) {
                ++r;
            } else {
                std::this_thread::sleep_for(milliseconds(20));
            }
        }
    } catch (const std::exception&) {
        // The store is gone; nothing is left to tell.
    }
}

void ProcessGroup::State::close() noexcept {
    if (!store) return;
    try {
        if (config.rank != 0) {
            stop_monitor();
            store->set(rank_key("closed", config.rank), bytes_of("1"));
        } else {
            // Rank 0 may host the store: it stays until every other rank has let go of
            // it or stopped, so none loses the store while it still reads from it.
            const auto deadline = Clock::now() + config.timeout;
            const milliseconds poll = std::min(beat, milliseconds(50));
            for (int r = 1; r < config.world_size && Clock::now() < deadline;) {
                bool gone = closed(r);
                if (!gone) {
                    const std::lock_guard lock(mutex);
                    gone = Clock::now() - last_seen[static_cast<std::size_t>(r)] > config.timeout;
                }
                if (gone) {
                    ++r;
                } else {
                    std::this_thread::sleep_for(poll);
                }
            }
            stop_monitor();
        }
    } catch (const std::exception&) {
        stop_monitor();
    }
    gloo.reset();
    store.reset();
}

void ProcessGroup::State::wait_for_transfer(c10d::Work& work, int peer) {
    {
        const std::lock_guard lock(mutex);
        if (failure) {
            work.abort();
            throw GroupError(*failure);
        }
        transfer = &work;
    }
    // One wait, bounded by gloo's own timeout (--dist-timeout): a wait that gloo times
    // out closes every connection of the group, so it cannot be waited in slices. A
    // failure seen meanwhile aborts it (fail()).
    bool done = false;
    std::string broke;
    try {
        done = work.wait();
    } catch (const std::exception& e) {
        broke = error_text(e);
    }
    {
        const std::lock_guard lock(mutex);
        transfer = nullptr;
    }
    if (const auto f = current_failure()) throw GroupError(*f);
    if (!broke.empty() || !done) {
        // A rank that failed said why before it went; raise() names that first.
        throw GroupError(raise("rank " + std::to_string(peer) + " cannot be reached: the connection to it broke (" +
                               (broke.empty() ? std::string("the transfer was abandoned") : broke) + ")"));
    }
}

ProcessGroup::ProcessGroup(const LaunchConfig& config) : state_(std::make_unique<State>()) {
    State& s = *state_;
    s.config = config;
    s.beat = std::clamp(milliseconds(config.timeout.count() / 10), milliseconds(20), milliseconds(1000));
    s.connect();
    try {
        s.join();
        s.start_gloo();
    } catch (const GroupError&) {
        s.leave_unstarted();
        throw;
    }
    s.start_monitor();
}

ProcessGroup::~ProcessGroup() {
    state_->close();
}

int ProcessGroup::rank() const {
    return state_->config.rank;
}

int ProcessGroup::world_size() const {
    return state_->config.world_size;
}

const LaunchConfig& ProcessGroup::config() const {
    return state_->config;
}

std::optional<std::string> ProcessGroup::failure() const {
    return state_->current_failure();
}

void ProcessGroup::report_failure(const std::string& what) noexcept {
    if (state_->current_failure()) return; // this rank stops because of another's failure
    try {
        state_->raise("rank " + std::to_string(rank()) + " failed: " + what);
    } catch (...) {
    }
}

void ProcessGroup::wait_for_all(const std::string& name) {
    State& s = *state_;
    const std::vector<std::string> keys = s.all_keys("step/" + name);
    s.wait_until([&] {
        s.store->set(keys[static_cast<std::size_t>(rank())], bytes_of("1"));
        return true;
    });
    s.wait_until([&] { return s.store->check(keys); });
}

void ProcessGroup::wait_for_first(const std::string& name) {
    State& s = *state_;
    const std::string key = rank_key("step/" + name, 0);
    if (rank() == 0) {
        s.wait_until([&] {
            s.store->set(key, bytes_of("1"));
            return true;
        });
        return;
    }
    s.wait_until([&] { return s.store->check({key}); });
}

std::string ProcessGroup::value_of_first(const std::string& name, const std::string& value) {
    State& s = *state_;
    const std::string key = "value/" + name;
    if (rank() == 0) {
        s.wait_until([&] {
            s.store->set(key, bytes_of(value));
            return true;
        });
        return value;
    }
    s.wait_until([&] { return s.store->check({key}); });
    std::string first;
    s.wait_until([&] {
        first = text_of(s.store->get(key));
        return true;
    });
    return first;
}

std::vector<std::string> ProcessGroup::gather_to_first(const std::string& bytes) {
    State& s = *state_;
    const auto world = static_cast<std::size_t>(world_size());
    std::vector<int64_t> sizes(world);
    try {
        // The sizes first, to every rank, then everyone's bytes padded to the longest.
        std::vector<at::Tensor> size{at::full({1}, static_cast<int64_t>(bytes.size()), at::kLong)};
        std::vector<std::vector<at::Tensor>> all_sizes(1);
        for (std::size_t r = 0; r < world; ++r)
            all_sizes[0].push_back(at::empty({1}, at::kLong));
        s.gloo->allgather(all_sizes, size)->wait();
        int64_t longest = 1;
        for (std::size_t r = 0; r < world; ++r) {
            sizes[r] = all_sizes[0][r].item<int64_t>();
            longest = std::max(longest, sizes[r]);
        }
        std::vector<at::Tensor> mine{at::zeros({longest}, at::kByte)};
        std::memcpy(mine[0].data_ptr(), bytes.data(), bytes.size());
        std::vector<std::vector<at::Tensor>> gathered;
        if (rank() == 0) {
            gathered.resize(1);
            for (std::size_t r = 0; r < world; ++r)
                gathered[0].push_back(at::empty({longest}, at::kByte));
        }
        c10d::GatherOptions options;
        options.rootRank = 0;
        s.gloo->gather(gathered, mine, options)->wait();
        std::vector<std::string> texts;
        for (std::size_t r = 0; r < (gathered.empty() ? 0 : world); ++r) {
            const auto* data = static_cast<const char*>(gathered[0][r].data_ptr());
            texts.emplace_back(data, data + sizes[r]);
        }
        return texts;
    } catch (const GroupError&) {
        throw;
    } catch (const std::exception& e) {
        if (const auto f = failure()) throw GroupError(*f);
        throw GroupError(s.raise("rank " + std::to_string(rank()) + " could not gather over gloo: " + error_text(e)));
    }
}

namespace {

// A tensor's dtype and shape, sent ahead of its data: [dtype, dims, sizes...].
constexpr int64_t kMaxDims = 8;
constexpr int64_t kHeaderSize = 2 + kMaxDims;

} // namespace

void ProcessGroup::send_data(const at::Tensor& tensor, int peer) {
    State& s = *state_;
    if (tensor.numel() == 0) return;
    std::vector<at::Tensor> one{tensor.contiguous()};
    c10::intrusive_ptr<c10d::Work> work;
    try {
        work = s.gloo->send(one, peer, 0);
    } catch (const std::exception& e) {
        if (const auto f = failure()) throw GroupError(*f);
        throw GroupError(s.raise("rank " + std::to_string(rank()) + " could not send to rank " + std::to_string(peer) +
                                 ": " + error_text(e)));
    }
    s.wait_for_transfer(*work, peer);
}

void ProcessGroup::receive_into(at::Tensor& tensor, int peer) {
    State& s = *state_;
    if (tensor.numel() == 0) return;
    std::vector<at::Tensor> one{tensor};
    c10::intrusive_ptr<c10d::Work> work;
    try {
        work = s.gloo->recv(one, peer, 0);
    } catch (const std::exception& e) {
        if (const auto f = failure()) throw GroupError(*f);
        throw GroupError(s.raise("rank " + std::to_string(rank()) + " could not receive from rank " +
                                 std::to_string(peer) + ": " + error_text(e)));
    }
    s.wait_for_transfer(*work, peer);
}

void ProcessGroup::send(const at::Tensor& tensor, int peer) {
    if (tensor.dim() > kMaxDims) {
        throw Error("a tensor of " + std::to_string(tensor.dim()) + " dimensions cannot be sent: at most " +
                    std::to_string(kMaxDims));
    }
    at::Tensor header = at::zeros({kHeaderSize}, at::kLong);
    int64_t* h = header.data_ptr<int64_t>();
    h[0] = static_cast<int64_t>(tensor.scalar_type());
    h[1] = tensor.dim();
    for (int64_t d = 0; d < tensor.dim(); ++d)
        h[2 + d] = tensor.size(d);
    send_data(header, peer);
    send_data(tensor, peer);
}

at::Tensor ProcessGroup::receive(int peer) {
    at::Tensor header = at::empty({kHeaderSize}, at::kLong);
    receive_into(header, peer);
    const int64_t* h = header.data_ptr<int64_t>();
    if (h[1] < 0 || h[1] > kMaxDims) {
        throw GroupError(state_->raise("rank " + std::to_string(rank()) + " received a malformed tensor from rank " +
                                       std::to_string(peer)));
    }
    at::Tensor tensor = at::empty(std::vector<int64_t>(h + 2, h + 2 + h[1]), static_cast<at::ScalarType>(h[0]));
    receive_into(tensor, peer);
    return tensor;
}

} // namespace hookscope
