#include "bridge/model/kernels/spin_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace hookscope::kernels {

namespace {

void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

} // namespace

SpinPool& SpinPool::instance() {
    static SpinPool* pool = new SpinPool;
    return *pool;
}

void SpinPool::resize(int threads) {
    threads = std::max(1, threads);
    const std::lock_guard turn(run_mutex_);
    if (threads == static_cast<int>(workers_.size()) + 1) return;
    {
        const std::lock_guard lock(mutex_);
        stop_ = true;
        ++generation_;
    }
    wake_.notify_all();
    for (auto& w : workers_)
        w.join();
    workers_.clear();
    stop_ = false;
    // Workers start from the current generation: a job posted before a new thread
    // gets going is still its job.
    const uint64_t start = generation_.load(std::memory_order_acquire);
    for (int t = 1; t < threads; ++t)
        workers_.emplace_back([this, t, start] { work(t, start); });
    size_.store(threads, std::memory_order_release);
}

void SpinPool::run(ReadAhead after, const std::function<void(int, int)>& part) {
    const std::lock_guard turn(run_mutex_);
    const int parts = static_cast<int>(workers_.size()) + 1;
    if (parts == 1) {
        part(0, 1);
        return;
    }
    job_ = &part;
    parts_ = parts;
    after_ = after;
    failure_ = nullptr;
    pending_.store(parts - 1, std::memory_order_relaxed);
    {
        const std::lock_guard lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    std::exception_ptr failure;
    try {
        part(0, parts);
    } catch (...) {
        failure = std::current_exception();
    }
    while (pending_.load(std::memory_order_acquire) > 0)
        cpu_relax();
    job_ = nullptr;
    if (!failure) failure = failure_;
    if (failure) std::rethrow_exception(failure);
}

void SpinPool::run_chunks(int64_t chunks, const std::function<void()>& start, const std::function<void(int64_t)>& chunk,
                          ReadAhead after) {
    if (chunks <= 0) return;
    if (chunks > int64_t{0xFFFFFFFF}) throw std::invalid_argument("too many chunks for one job");
    // A share's remaining chunks [front, back), packed as front | back << 32, so that
    // its owner and a thief claim from either end with one compare-and-swap.
    struct alignas(64) Share {
        std::atomic<uint64_t> range;
    };
    const int threads = size();
    thread_local std::unique_ptr<Share[]> caller_shares;
    thread_local int capacity = 0;
    if (capacity < threads) caller_shares = std::make_unique<Share[]>(static_cast<std::size_t>(capacity = threads));
    Share* const shares = caller_shares.get(); // the caller's, seen by the workers
    for (int k = 0; k < threads; ++k) {
        const auto first = static_cast<uint64_t>(chunks * k / threads);
        const auto last = static_cast<uint64_t>(chunks * (k + 1) / threads);
        shares[k].range.store(first | last << 32, std::memory_order_relaxed);
    }
    // Claims chunk c from the front (or the back) of share s; false once it is empty.
    const auto claim = [&](int s, bool front, int64_t& c) {
        uint64_t range = shares[s].range.load(std::memory_order_acquire);
        while (true) {
            const uint64_t first = range & 0xFFFFFFFFu, last = range >> 32;
            if (first >= last) return false;
            const uint64_t next = front ? (first + 1) | last << 32 : first | (last - 1) << 32;
            if (shares[s].range.compare_exchange_weak(range, next, std::memory_order_acq_rel,
                                                      std::memory_order_acquire)) {
                c = static_cast<int64_t>(front ? first : last - 1);
                return true;
            }
        }
    };
    run(after, [&](int k, int parts) {
        if (parts != threads) throw std::logic_error("kernel threads changed during a job");
        bool started = false;
        int64_t c = 0;
        for (int s = k, visited = 0; visited < parts; s = (s + 1) % parts, ++visited) {
            while (claim(s, /*front=*/s == k, c)) {
                if (!started && start) start();
                started = true;
                chunk(c);
            }
        }
    });
}

void SpinPool::work(int index, uint64_t seen) {
    // The read-ahead still to do: the start of this worker's share, and the first worker
    // reads the caller's too (the caller is busy between jobs).
    struct Lines {
        const char* next = nullptr;
        const char* end = nullptr;
        bool read_four() { // true while lines remain
            if (next >= end) return false;
            for (int line = 0; line < 4; ++line)
                __builtin_prefetch(next + 64 * line, /*read*/ 0, /*into L2*/ 2);
            next += 4 * 64;
            return true;
        }
    } own, callers;
    const auto start_of_share = [](const ReadAhead& after, int k, int parts) {
        const auto* base = static_cast<const char*>(after.base);
        const int64_t begin = after.bytes * k / parts;
        const int64_t end = std::min(after.bytes * (k + 1) / parts, begin + kReadAheadBytes);
        return Lines{base + begin, base + end};
    };
    while (true) {
        // Read ahead, a few cache lines between looks for the next job, then spin for a
        // while (on the order of a millisecond), then sleep until the next job.
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen && spins < 20000) {
            const bool own_left = own.read_four();
            if (!callers.read_four() && !own_left) {
                cpu_relax();
                ++spins;
            }
        }
        if (generation_.load(std::memory_order_acquire) == seen) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        }
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        try {
            (*job_)(index, parts_);
        } catch (...) {
            const std::lock_guard lock(mutex_);
            if (!failure_) failure_ = std::current_exception();
        }
        // Taken before the job is marked done: the caller may post the next one after.
        if (after_.base) {
            own = start_of_share(after_, index, parts_);
            callers = index == 1 ? start_of_share(after_, 0, parts_) : Lines{};
        }
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

} // namespace hookscope::kernels
