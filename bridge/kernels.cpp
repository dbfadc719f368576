#include "bridge/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace hookscope::kernels {
namespace {

// A few workers that spin briefly between jobs (decoding issues dozens of products per
// token, microseconds apart) and sleep when idle. The caller runs part 0 of each job.
class Pool {
public:
    ~Pool() { resize(1); }

    // Only changes under run_mutex_, which run() holds while it reads it.
    int size() const { return static_cast<int>(workers_.size()) + 1; }

    void resize(int threads) {
        threads = std::max(1, threads);
        const std::lock_guard turn(run_mutex_);
        if (threads == size()) return;
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
    }

    // Runs part(k) for k in [0, size()), on the workers and the caller, and waits.
    // Callers on different threads take turns.
    void run(const std::function<void(int)>& part) {
        const std::lock_guard turn(run_mutex_);
        if (workers_.empty()) {
            part(0);
            return;
        }
        job_ = &part;
        pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        {
            const std::lock_guard lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        part(0);
        while (pending_.load(std::memory_order_acquire) > 0)
            _mm_pause();
        job_ = nullptr;
    }

private:
    void work(int index, uint64_t seen) {
        while (true) {
            // Spin for a while (about 50 µs), then sleep until the next job.
            int spins = 0;
            while (generation_.load(std::memory_order_acquire) == seen && spins < 20000) {
                _mm_pause();
                ++spins;
            }
            if (generation_.load(std::memory_order_acquire) == seen) {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            }
            seen = generation_.load(std::memory_order_acquire);
            if (stop_) return;
            (*job_)(index);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex run_mutex_; // one job at a time
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int)>* job_ = nullptr;
    bool stop_ = false;
};

Pool& pool() {
    static Pool instance;
    return instance;
}

std::atomic<Level> level_cap{Level::Avx512};

Level cpu_level() {
    static const Level level = __builtin_cpu_supports("avx512f")                                 ? Level::Avx512
                               : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? Level::Avx2
                                                                                                 : Level::Portable;
    return level;
}

// [begin, end) of part k of n split into `parts`, boundaries on multiples of `align`.
std::pair<int64_t, int64_t> share(int64_t n, int parts, int k, int64_t align) {
    const int64_t units = (n + align - 1) / align;
    const int64_t begin = std::min(n, units * k / parts * align);
    const int64_t end = std::min(n, units * (k + 1) / parts * align);
    return {begin, end};
}

// ---- portable ----------------------------------------------------------------------

void in_out_portable(const float* w, int64_t in, int64_t out, const float* x, float* y, int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < in; ++i) {
        const float xi = x[i];
        const float* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += xi * row[j];
    }
}

void rows_portable(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        const float* row = w + r * cols;
        float sum = 0;
        for (int64_t k = 0; k < cols; ++k)
            sum += row[k] * x[k];
        y[r] += sum;
    }
}

// ---- AVX2 + FMA --------------------------------------------------------------------

// Four rows of w at a time into the y[c0, c1) slice, which stays in L1.
__attribute__((target("avx2,fma"))) void in_out_avx2(const float* w, int64_t in, int64_t out, const float* x, float* y,
                                                     int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 8 * 8;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]);
        const __m256 x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);
        const float* r0 = w + i * out;
        const float* r1 = r0 + out;
        const float* r2 = r1 + out;
        const float* r3 = r2 + out;
        for (int64_t j = c0; j < vector_end; j += 8) {
            __m256 acc = _mm256_loadu_ps(y + j);
            acc = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r0 + j), acc);
            acc = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r1 + j), acc);
            acc = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r2 + j), acc);
            acc = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r3 + j), acc);
            _mm256_storeu_ps(y + j, acc);
        }
        for (int64_t j = vector_end; j < c1; ++j)
            y[j] += x[i] * r0[j] + x[i + 1] * r1[j] + x[i + 2] * r2[j] + x[i + 3] * r3[j];
    }
    for (; i < in; ++i) {
        const float* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += x[i] * row[j];
    }
}

__attribute__((target("avx2,fma"))) float horizontal_sum(__m256 v) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
}

// Four rows at a time, each a dot product with x (which stays in L1).
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                   int64_t r1) {
    const int64_t vector_end = cols / 8 * 8;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        __m256 sa = _mm256_setzero_ps(), sb = _mm256_setzero_ps(), sc = _mm256_setzero_ps(), sd = _mm256_setzero_ps();
        for (int64_t k = 0; k < vector_end; k += 8) {
            const __m256 xv = _mm256_loadu_ps(x + k);
            sa = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), xv, sa);
            sb = _mm256_fmadd_ps(_mm256_loadu_ps(b + k), xv, sb);
            sc = _mm256_fmadd_ps(_mm256_loadu_ps(c + k), xv, sc);
            sd = _mm256_fmadd_ps(_mm256_loadu_ps(d + k), xv, sd);
        }
        float ta = horizontal_sum(sa), tb = horizontal_sum(sb), tc = horizontal_sum(sc), td = horizontal_sum(sd);
        for (int64_t k = vector_end; k < cols; ++k) {
            ta += a[k] * x[k];
            tb += b[k] * x[k];
            tc += c[k] * x[k];
            td += d[k] * x[k];
        }
        y[r] += ta;
        y[r + 1] += tb;
        y[r + 2] += tc;
        y[r + 3] += td;
    }
    if (r < r1) rows_portable(w, cols, x, y, r, r1);
}

// ---- AVX-512 -----------------------------------------------------------------------
// As the AVX2 versions, 16 floats a step, and each row group prefetches the next one's
// data: two cores' worth of hardware prefetching leaves bandwidth unused.

__attribute__((target("avx512f"))) void in_out_avx512(const float* w, int64_t in, int64_t out, const float* x, float* y,
                                                      int64_t c0, int64_t c1) {
    const int64_t vector_end = c0 + (c1 - c0) / 16 * 16;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4) {
        const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
        const __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
        const float* r0 = w + i * out;
        const float* r1 = r0 + out;
        const float* r2 = r1 + out;
        const float* r3 = r2 + out;
        const bool ahead = i + 8 <= in;
        for (int64_t j = c0; j < vector_end; j += 16) {
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(r0 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r1 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r2 + 4 * out + j), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(r3 + 4 * out + j), _MM_HINT_T0);
            }
            __m512 acc = _mm512_loadu_ps(y + j);
            acc = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r0 + j), acc);
            acc = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r1 + j), acc);
            acc = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r2 + j), acc);
            acc = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r3 + j), acc);
            _mm512_storeu_ps(y + j, acc);
        }
        for (int64_t j = vector_end; j < c1; ++j)
            y[j] += x[i] * r0[j] + x[i + 1] * r1[j] + x[i + 2] * r2[j] + x[i + 3] * r3[j];
    }
    for (; i < in; ++i) {
        const float* row = w + i * out;
        for (int64_t j = c0; j < c1; ++j)
            y[j] += x[i] * row[j];
    }
}

__attribute__((target("avx512f"))) float lane_sum(__m512 v) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    float total = 0;
    for (const float lane : lanes)
        total += lane;
    return total;
}

__attribute__((target("avx512f"))) void rows_avx512(const float* w, int64_t cols, const float* x, float* y, int64_t r0,
                                                    int64_t r1) {
    const int64_t vector_end = cols / 16 * 16;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float* a = w + r * cols;
        const float* b = a + cols;
        const float* c = b + cols;
        const float* d = c + cols;
        const bool ahead = r + 8 <= r1;
        __m512 sa = _mm512_setzero_ps(), sb = _mm512_setzero_ps(), sc = _mm512_setzero_ps(), sd = _mm512_setzero_ps();
        for (int64_t k = 0; k < vector_end; k += 16) {
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(a + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(c + 4 * cols + k), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(d + 4 * cols + k), _MM_HINT_T0);
            }
            const __m512 xv = _mm512_loadu_ps(x + k);
            sa = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), xv, sa);
            sb = _mm512_fmadd_ps(_mm512_loadu_ps(b + k), xv, sb);
            sc = _mm512_fmadd_ps(_mm512_loadu_ps(c + k), xv, sc);
            sd = _mm512_fmadd_ps(_mm512_loadu_ps(d + k), xv, sd);
        }
        float ta = lane_sum(sa), tb = lane_sum(sb), tc = lane_sum(sc), td = lane_sum(sd);
        for (int64_t k = vector_end; k < cols; ++k) {
            ta += a[k] * x[k];
            tb += b[k] * x[k];
            tc += c[k] * x[k];
            td += d[k] * x[k];
        }
        y[r] += ta;
        y[r + 1] += tb;
        y[r + 2] += tc;
        y[r + 3] += td;
    }
    if (r < r1) rows_portable(w, cols, x, y, r, r1);
}

// rows_avx2 into a fresh y (it accumulates).
void rows_avx2_into(const float* w, int64_t cols, const float* x, float* y, int64_t r0, int64_t r1) {
    std::fill(y + r0, y + r1, 0.0f);
    rows_avx2(w, cols, x, y, r0, r1);
}

// One head: scores over the cached keys, softmax, weighted sum of the values.
void attend_head(const float* q, const float* keys, const float* values, int64_t d_head, int64_t length, float scale,
                 float* scores, float* z, bool avx2) {
    if (avx2) {
        rows_avx2_into(keys, d_head, q, scores, 0, length);
    } else {
        for (int64_t t = 0; t < length; ++t) {
            float sum = 0;
            for (int64_t k = 0; k < d_head; ++k)
                sum += keys[t * d_head + k] * q[k];
            scores[t] = sum;
        }
    }
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < length; ++t) {
        scores[t] *= scale;
        top = std::max(top, scores[t]);
    }
    float total = 0;
    for (int64_t t = 0; t < length; ++t) {
        scores[t] = std::exp(scores[t] - top);
        total += scores[t];
    }
    const float inverse = 1.0f / total;
    for (int64_t t = 0; t < length; ++t)
        scores[t] *= inverse;
    std::fill(z, z + d_head, 0.0f);
    if (avx2) {
        in_out_avx2(values, length, d_head, scores, z, 0, d_head);
    } else {
        in_out_portable(values, length, d_head, scores, z, 0, d_head);
    }
}

void start_with_bias(float* y, const float* bias, int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
        y[j] = bias ? bias[j] : 0.0f;
}

} // namespace

void gemv_in_out(const float* w, int64_t in, int64_t out, const float* x, const float* bias, float* y) {
    const Level l = level();
    Pool& p = pool();
    const int parts = p.size();
    p.run([&](int k) {
        // Columns split across threads, on 64-byte boundaries: each streams its half of every row.
        const auto [c0, c1] = share(out, parts, k, 16);
        if (c0 >= c1) return;
        start_with_bias(y, bias, c0, c1);
        switch (l) {
        case Level::Avx512: in_out_avx512(w, in, out, x, y, c0, c1); break;
        case Level::Avx2: in_out_avx2(w, in, out, x, y, c0, c1); break;
        case Level::Portable: in_out_portable(w, in, out, x, y, c0, c1); break;
        }
    });
}

void gemv_rows(const float* w, int64_t rows, int64_t cols, const float* x, const float* bias, float* y) {
    const Level l = level();
    Pool& p = pool();
    const int parts = p.size();
    p.run([&](int k) {
        const auto [r0, r1] = share(rows, parts, k, 4);
        if (r0 >= r1) return;
        start_with_bias(y, bias, r0, r1);
        switch (l) {
        case Level::Avx512: rows_avx512(w, cols, x, y, r0, r1); break;
        case Level::Avx2: rows_avx2(w, cols, x, y, r0, r1); break;
        case Level::Portable: rows_portable(w, cols, x, y, r0, r1); break;
        }
    });
}

void layer_norm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i)
        sum += x[i];
    const double mean = sum / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
        squares += (x[i] - mean) * (x[i] - mean);
    const auto rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
    const auto m = static_cast<float>(mean);
    for (int64_t i = 0; i < n; ++i)
        out[i] = (x[i] - m) * rstd * w[i] + b[i];
}

void attend_one(const float* q, const float* keys, const float* values, int64_t heads, int64_t kv_heads, int64_t d_head,
                int64_t capacity, int64_t length, double scale, float* z) {
    const bool avx2 = level() != Level::Portable; // attention rows are short: AVX2 serves
    const int64_t group = heads / kv_heads;
    Pool& p = pool();
    const int parts = p.size();
    p.run([&](int k) {
        const auto [h0, h1] = share(heads, parts, k, 1);
        std::vector<float> scores(static_cast<std::size_t>(length));
        for (int64_t h = h0; h < h1; ++h) {
            const int64_t kv = h / group;
            attend_head(q + h * d_head, keys + kv * capacity * d_head, values + kv * capacity * d_head, d_head, length,
                        static_cast<float>(scale), scores.data(), z + h * d_head, avx2);
        }
    });
}

void set_threads(int threads) {
    pool().resize(threads);
}
int threads() {
    return pool().size();
}
Level level() {
    return std::min(cpu_level(), level_cap.load());
}
void cap_level(Level cap) {
    level_cap.store(cap);
}
const char* level_name(Level l) {
    switch (l) {
    case Level::Portable: return "portable";
    case Level::Avx2: return "avx2";
    case Level::Avx512: return "avx512";
    }
    return "?";
}

} // namespace hookscope::kernels
