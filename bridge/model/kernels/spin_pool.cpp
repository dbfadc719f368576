#include "bridge/model/kernels/spin_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>

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

void SpinPool::run(const std::function<void(int, int)>& part) {
    const std::lock_guard turn(run_mutex_);
    const int parts = static_cast<int>(workers_.size()) + 1;
    if (parts == 1) {
        part(0, 1);
        return;
    }
    job_ = &part;
    parts_ = parts;
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

void SpinPool::work(int index, uint64_t seen) {
    while (true) {
        // Spin for a while (on the order of a millisecond), then sleep until the next job.
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen && spins < 20000) {
            cpu_relax();
            ++spins;
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
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

} // namespace hookscope::kernels
