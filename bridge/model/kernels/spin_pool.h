#pragma once
// The decode kernels' threads: a few workers that spin briefly between jobs (decoding
// issues dozens of products per token, microseconds apart) and sleep when idle. The
// caller runs part 0 of each job.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hookscope::kernels {

// Bytes the workers read into their caches while they wait for the next job, so that
// the memory bus works while the caller computes alone between jobs. Worker k of the
// pool's `parts` reads from base + bytes * k / parts, where its share of a product over
// those bytes begins, and worker 1 also from base, where the caller's begins: at most
// SpinPool::kReadAheadBytes each. A job with a read-ahead replaces a worker's unfinished
// one; a job without leaves it.
struct ReadAhead {
    const void* base = nullptr;
    int64_t bytes = 0;
};
class SpinPool {
public:
    // The pool lives until the process ends (it is never destroyed), so a thread still
    // decoding while the program exits never meets a destroyed mutex.
    static SpinPool& instance();

    int size() const { return size_.load(std::memory_order_acquire); }

    // `threads` in all, the caller included (at least 1).
    void resize(int threads);

    // The most a worker reads ahead.
    static constexpr int64_t kReadAheadBytes = int64_t{192} << 10;

    // Runs part(k, parts) for k in [0, parts), on the workers and the caller, and waits
    // for all of them, also when one throws (the first exception is then rethrown).
    // Callers on different threads take turns. Each worker, done with its part, reads
    // `after` ahead (see ReadAhead) until the next job comes.
    void run(const std::function<void(int, int)>& part) { run({}, part); }
    void run(ReadAhead after, const std::function<void(int, int)>& part);

    // Runs chunk(c) for every c in [0, chunks), for work where one chunk computes each
    // of its outputs whole, so that the result never depends on which thread ran a
    // chunk. Each thread owns a contiguous share of the chunks and works through it
    // front to back (one sequential stream, as with fixed shares); a thread whose share
    // is done then takes chunks from the back of the others' shares. A thread calls
    // `start` (where given) once before its first chunk, for setup that every chunk it
    // runs shares. With fixed shares alone every job waits for its slowest thread, and
    // on a shared machine threads do not run at the same speed: decoding GPT-2 on a
    // two-core Zen 3 virtual machine, the caller waited 4-6% of its product time for
    // the other. (Every chunk going to whichever thread is free measured slower for
    // the decode's products: their streams break at every chunk.)
    void run_chunks(int64_t chunks, const std::function<void()>& start, const std::function<void(int64_t)>& chunk,
                    ReadAhead after = {});

private:
    SpinPool() = default;
    void work(int index, uint64_t seen);

    std::vector<std::thread> workers_;
    std::atomic<int> size_{1};
    std::mutex run_mutex_; // one job at a time
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int, int)>* job_ = nullptr;
    int parts_ = 1;
    ReadAhead after_;
    std::exception_ptr failure_;
    bool stop_ = false;
};

} // namespace hookscope::kernels
