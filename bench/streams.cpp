// One decode step's weight reads without the model around them: the one-position row
// products (kernels::gemv_rows_bf16 and kernels::gemv_rows, at the level HOOKSCOPE_KERNELS
// allows) over the matrices a token of the shape reads, the same bytes read as GPT-2's
// models read them (panel products for the block matrices), beside plain sums of the same
// bytes through the same kernel threads, split as the products split their rows (each
// sum this CPU runs, since none reads fastest everywhere). The weights sit on huge
// pages, as the model holds them. Each step times every read once, in an order that
// rotates from step to step: in a fixed order a read measured up to a tenth faster or
// slower by its place. Prints GB/s medians and each product's median ratio to the best
// sum of the same bytes in the same step: the share of what the threads can read that
// the product reads, the ceiling of the decode on this machine at this level. Also each
// product on one thread over weights that stay in L2: how far the arithmetic alone could
// run ahead of the memory's reads (arithmetic_over_memory, near 1: it cannot).
//
// usage: bench_streams [--shape llama-1b|gpt2-small] [--steps N] [--threads N] [--smoke]

#include "bench/args.h"
#include "bench/memory_read.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kernels/spin_pool.h"
#include "bridge/model/threads.h"
#include "bridge/model/weights.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

namespace {

struct Matrix {
    int64_t rows, cols; // nn.Linear layout [out, in]
};

// The matrices one decoded token reads, as [out, in]: per layer the query, key, value
// and output projections, the MLP's gate (gated MLPs), up and down projections; then
// the unembedding.
std::vector<Matrix> token_matrices(const ModelConfig& c, bool gated_mlp) {
    const int64_t d = c.d_model, q = c.n_heads * c.d_head, kv = c.n_kv_heads * c.d_head;
    std::vector<Matrix> layer{{q, d}, {kv, d}, {kv, d}, {d, q}};
    if (gated_mlp) layer.push_back({c.d_mlp, d});
    layer.push_back({c.d_mlp, d});
    layer.push_back({d, c.d_mlp});
    std::vector<Matrix> all;
    for (int64_t i = 0; i < c.n_layers; ++i)
        all.insert(all.end(), layer.begin(), layer.end());
    all.push_back({c.d_vocab, d});
    return all;
}

// A huge-page buffer of `values` random values of `type`, every matrix back to back
// (made 16M at a time: the 1B shape's float32 matrices alone take 5 GB).
at::Tensor matrices_in(int64_t values, at::ScalarType type) {
    at::Tensor all = huge_page_tensor({values}, type);
    constexpr int64_t kPart = int64_t{1} << 24;
    for (int64_t i = 0; i < values; i += kPart) {
        const int64_t n = std::min(kPart, values - i);
        all.slice(0, i, i + n).copy_(at::randn({n}) * 0.02);
    }
    return all;
}

// A plain sum of each matrix's bytes as floats by `kernel`, split across the kernels'
// threads as the row products split their rows: each thread streams its own contiguous
// share in chunks of the size kernels::chunk_of gives the products and takes chunks from
// the back of the others' shares once its own is done (SpinPool::run_chunks).
void sum_matrices(const std::vector<Matrix>& matrices, const char* data, int64_t value_bytes,
                  const ReadKernel& kernel) {
    kernels::SpinPool& pool = kernels::SpinPool::instance();
    volatile double sink = 0;
    for (const Matrix& m : matrices) {
        const int64_t floats = m.rows * m.cols * value_bytes / 4;
        const int64_t chunk = kernels::chunk_of(floats, int64_t{sizeof(float)}, 16); // whole cache lines
        const auto* p = reinterpret_cast<const float*>(data);
        pool.run_chunks((floats + chunk - 1) / chunk, {}, [&](int64_t c) {
            const int64_t begin = c * chunk, end = std::min(floats, begin + chunk);
            const double s = kernel.sum(p + begin, static_cast<std::size_t>(end - begin));
            if (s == -1.0) sink = sink + s; // keeps the sum from being optimised away
        });
        data += m.rows * m.cols * value_bytes;
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string shape = "llama-1b";
    int steps = 15, threads = 0;
    bool smoke = false;
    const bool parsed = BenchArgs("bench_streams")
                            .text("--shape", shape, "S")
                            .integer("--steps", steps, 1)
                            .integer("--threads", threads, 1)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    apply_thread_split(default_thread_split(threads));
    std::vector<Matrix> matrices;
    if (smoke) {
        matrices = {{96, 64}, {64, 96}, {100, 64}};
        steps = 2;
    } else if (shape == "llama-1b") {
        matrices = token_matrices(llama_1b_config(), true);
    } else if (shape == "gpt2-small") {
        matrices = token_matrices(gpt2_small_config(), false);
    } else {
        std::cerr << "bench_streams: unknown --shape `" << shape << "` (llama-1b or gpt2-small)\n";
        return 2;
    }
    int64_t values = 0, widest = 0;
    for (const Matrix& m : matrices) {
        values += m.rows * m.cols;
        widest = std::max({widest, m.rows, m.cols});
    }
    const at::Tensor bf16 = matrices_in(values, at::kBFloat16), f32 = matrices_in(values, at::kFloat);
    const at::Tensor x = at::randn({widest});
    at::Tensor y = at::empty({widest});
    const auto* bf16_data = reinterpret_cast<const uint16_t*>(bf16.data_ptr<at::BFloat16>());
    const float* f32_data = f32.data_ptr<float>();

    // Per step: each sum this CPU runs over the bfloat16 and over the float32 bytes (the
    // best of them is the step's sum), and each product.
    struct Read {
        std::string name;
        double bytes;
        std::function<void()> run;
    };
    std::vector<Read> reads;
    std::vector<std::string> bf16_sums, f32_sums;
    for (const ReadKernel& k : read_kernels()) {
        bf16_sums.push_back(std::string("sum_bf16_bytes_") + k.name);
        reads.push_back({bf16_sums.back(), values * 2.0,
                         [&, k] { sum_matrices(matrices, reinterpret_cast<const char*>(bf16_data), 2, k); }});
        f32_sums.push_back(std::string("sum_f32_bytes_") + k.name);
        reads.push_back({f32_sums.back(), values * 4.0,
                         [&, k] { sum_matrices(matrices, reinterpret_cast<const char*>(f32_data), 4, k); }});
    }
    reads.push_back({"rows_bf16", values * 2.0, [&] {
                         const uint16_t* w = bf16_data;
                         for (const Matrix& m : matrices) {
                             kernels::gemv_rows_bf16(w, m.rows, m.cols, x.data_ptr<float>(), nullptr,
                                                     y.data_ptr<float>());
                             w += m.rows * m.cols;
                         }
                     }});
    reads.push_back({"rows_f32", values * 4.0, [&] {
                         const float* w = f32_data;
                         for (const Matrix& m : matrices) {
                             kernels::gemv_rows(w, m.rows, m.cols, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
                             w += m.rows * m.cols;
                         }
                     }});
    // GPT-2's layout: the block matrices as panels of 32 output columns (the model packs
    // its [in, out] weights so), the unembedding, whose rows are not a multiple of 32, as rows.
    const auto as_gpt2_reads = [&](const auto* data, auto panels, auto rows) {
        return [&, data, panels, rows] {
            const auto* w = data;
            for (const Matrix& m : matrices) {
                if (m.rows % kernels::kPanelColumns == 0) {
                    panels(w, m.cols, m.rows, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
                } else {
                    rows(w, m.rows, m.cols, x.data_ptr<float>(), nullptr, y.data_ptr<float>());
                }
                w += m.rows * m.cols;
            }
        };
    };
    reads.push_back(
        {"panels_bf16", values * 2.0, as_gpt2_reads(bf16_data, &kernels::gemv_panels_bf16, &kernels::gemv_rows_bf16)});
    reads.push_back({"panels_f32", values * 4.0, as_gpt2_reads(f32_data, &kernels::gemv_panels, &kernels::gemv_rows)});
    for (const Read& r : reads) // warm-up: the pool's threads started, the pages touched
        r.run();
    std::map<std::string, std::vector<double>> gbs;
    for (int s = 0; s < steps; ++s) {
        for (std::size_t i = 0; i < reads.size(); ++i) {
            const Read& r = reads[(i + static_cast<std::size_t>(s)) % reads.size()];
            gbs[r.name].push_back(r.bytes / 1e9 / seconds(r.run));
        }
    }
    // Each step's best rate among `sums`.
    const auto best_sum = [&](const std::vector<std::string>& sums) {
        std::vector<double> best(static_cast<std::size_t>(steps), 0.0);
        for (const std::string& sum : sums) {
            for (std::size_t s = 0; s < best.size(); ++s)
                best[s] = std::max(best[s], gbs[sum][s]);
        }
        return best;
    };
    // The product's median over its steps of its rate / the best sum of the same bytes in that step.
    const auto over_best_sum = [&](const std::string& product, const std::vector<std::string>& sums) {
        const std::vector<double> best = best_sum(sums);
        std::vector<double> ratios;
        for (std::size_t s = 0; s < best.size(); ++s)
            ratios.push_back(gbs[product][s] / best[s]);
        return median(ratios);
    };
    json medians;
    for (const auto& [name, values_gbs] : gbs)
        medians[name] = median(values_gbs);

    // The same products on one thread over weights that stay in its L2 (192 KB of
    // bfloat16, twice that in float32), read again and again: how fast their arithmetic
    // alone goes. The kernel threads times that rate, over the best sum's median rate
    // from memory, is how far the arithmetic could run ahead of the reads: near 1, it
    // takes about as long as they do and the product cannot hide one behind the other.
    const int kernel_threads = kernels::threads();
    const int64_t cols = matrices.front().cols;
    const int64_t cache_rows = std::max<int64_t>(1, std::min((192 << 10) / (cols * 2), values / cols) /
                                                        kernels::kPanelColumns * kernels::kPanelColumns);
    constexpr int kRepeats = 64;
    const double cache_values = static_cast<double>(cache_rows * cols * kRepeats);
    float* const xs = x.data_ptr<float>();
    std::vector<float> cache_y(static_cast<std::size_t>(cache_rows));
    float* const ys = cache_y.data();
    const std::vector<Read> in_cache{
        {"rows_bf16", cache_values * 2, [=] { kernels::gemv_rows_bf16(bf16_data, cache_rows, cols, xs, nullptr, ys); }},
        {"rows_f32", cache_values * 4, [=] { kernels::gemv_rows(f32_data, cache_rows, cols, xs, nullptr, ys); }},
        {"panels_bf16", cache_values * 2,
         [=] { kernels::gemv_panels_bf16(bf16_data, cols, cache_rows, xs, nullptr, ys); }},
        {"panels_f32", cache_values * 4, [=] { kernels::gemv_panels(f32_data, cols, cache_rows, xs, nullptr, ys); }}};
    const double best_bf16 = median(best_sum(bf16_sums)), best_f32 = median(best_sum(f32_sums));
    kernels::set_threads(1);
    json in_cache_gbs, arithmetic_over_memory;
    for (const Read& r : in_cache) {
        const auto repeated = [&] {
            for (int k = 0; k < kRepeats; ++k)
                r.run();
        };
        repeated(); // warm-up: the weights into L2
        std::vector<double> rates;
        for (int s = 0; s < steps; ++s)
            rates.push_back(r.bytes / 1e9 / seconds(repeated));
        in_cache_gbs[r.name] = median(rates);
        const bool bf16 = r.name.find("bf16") != std::string::npos;
        arithmetic_over_memory[r.name] = kernel_threads * median(rates) / (bf16 ? best_bf16 : best_f32);
    }
    kernels::set_threads(kernel_threads);
    json out{{"benchmark", "streams"},
             {"shape", smoke ? "smoke" : shape},
             {"kernels", kernels::level_name(kernels::level())},
             {"threads", kernels::threads()},
             {"steps", steps},
             {"bfloat16_bytes_per_step", values * 2},
             {"gbs_median", medians},
             {"rows_bf16_over_best_sum", over_best_sum("rows_bf16", bf16_sums)},
             {"rows_f32_over_best_sum", over_best_sum("rows_f32", f32_sums)},
             {"panels_bf16_over_best_sum", over_best_sum("panels_bf16", bf16_sums)},
             {"panels_f32_over_best_sum", over_best_sum("panels_f32", f32_sums)},
             {"in_cache_one_thread_gbs_median", in_cache_gbs},
             {"arithmetic_over_memory", arithmetic_over_memory}};
    std::cout << out.dump(2) << "\n";
    return 0;
}
