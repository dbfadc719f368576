// Hook overhead on a GPT-2-small-shaped model (12 layers, d_model 768, 12 heads,
// vocab 50257; random weights built in memory) over 256 positions:
//   plain      Model::forward (logits only)
//   empty      run_with_cache with a names filter that matches nothing
//   all        run_with_cache recording every hook point
// Variants are interleaved (rotating order) and repeated; medians and spread are
// printed as one JSON object. Target: `empty` costs at most 3% over `plain`.
//
// usage: bench_hook_overhead [--reps N] [--positions P] [--threads N] [--splits] [--smoke]
//   --splits  also time the plain forward under each LibTorch/OpenBLAS thread split

#include "bench/args.h"
#include "bench/shapes.h"
#include "bridge/model/threads.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

namespace {

double seconds_of(const std::function<void()>& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

json summary_ms(std::vector<double> s) {
    std::sort(s.begin(), s.end());
    const auto q = [&](double p) { return 1e3 * s[static_cast<std::size_t>(p * (s.size() - 1) + 0.5)]; };
    return {{"median", q(0.5)}, {"p25", q(0.25)}, {"p75", q(0.75)}, {"min", 1e3 * s.front()}, {"max", 1e3 * s.back()}};
}

} // namespace

int main(int argc, char** argv) {
    int reps = 15, positions = 256, threads = 0;
    bool splits = false;
    bool smoke = false;
    const bool parsed = BenchArgs("bench_hook_overhead")
                            .integer("--reps", reps, 1)
                            .integer("--positions", positions, 1, "P")
                            .integer("--threads", threads, 1)
                            .flag("--splits", splits)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1, positions = 16;
    apply_thread_split(default_thread_split(threads));
    const ThreadSplit split = current_thread_split();

    const BenchModel bench = bench_model("gpt2-small");
    const ModelConfig& config = bench.config;
    const auto& model = bench.model;
    std::vector<int64_t> tokens(static_cast<std::size_t>(positions));
    for (std::size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = static_cast<int64_t>((i * 7919 + 13) % 50257);

    const NamesFilter nothing("nothing.matches.this");
    const NamesFilter everything;
    int64_t all_bytes = 0;
    std::vector<std::pair<std::string, std::function<void()>>> variants{
        {"plain", [&] { (void)model->forward(tokens); }},
        {"empty_filter", [&] { (void)model->run_with_cache(tokens, nothing); }},
        {"all_hooks", [&] { all_bytes = model->run_with_cache(tokens, everything).total_bytes(); }},
    };
    std::map<std::string, std::vector<double>> times;
    for (auto& [name, run] : variants)
        run(); // warm-up: page in weights, size allocator pools
    for (int r = 0; r < reps; ++r) {
        for (std::size_t k = 0; k < variants.size(); ++k) {
            auto& [name, run] = variants[(k + static_cast<std::size_t>(r)) % variants.size()];
            times[name].push_back(seconds_of(run));
        }
    }

    json out;
    out["benchmark"] = "hook_overhead";
    out["model"] = {{"layers", config.n_layers},
                    {"d_model", config.d_model},
                    {"heads", config.n_heads},
                    {"vocab", config.d_vocab},
                    {"weights", "random, in memory"}};
    out["positions"] = positions;
    out["reps"] = reps;
    out["threads"] = {{"torch", split.torch_threads}, {"blas", split.blas_threads}, {"cores", available_cores()}};
    for (const auto& [name, t] : times)
        out[name + "_ms"] = summary_ms(t);
    const double plain = out["plain_ms"]["median"], empty = out["empty_filter_ms"]["median"],
                 all = out["all_hooks_ms"]["median"];
    // Per-rep paired ratio is steadier than a ratio of medians on a noisy machine.
    std::vector<double> paired;
    for (int r = 0; r < reps; ++r)
        paired.push_back(times["empty_filter"][r] / times["plain"][r]);
    std::sort(paired.begin(), paired.end());
    out["empty_filter_overhead_pct"] = 100.0 * (empty / plain - 1.0);
    out["empty_filter_overhead_pct_paired_median"] = 100.0 * (paired[paired.size() / 2] - 1.0);
    out["empty_filter_overhead_bound_pct"] = 3.0;
    out["all_hooks_overhead_pct"] = 100.0 * (all / plain - 1.0);
    out["all_hooks_cache_bytes"] = all_bytes;

    if (splits) {
        // Which LibTorch/OpenBLAS split runs this forward fastest (interleaved, medians).
        const int cores = available_cores();
        std::vector<ThreadSplit> candidates;
        for (int t = 1; t <= cores; t *= 2) {
            for (int b = 1; b <= cores; b *= 2)
                candidates.push_back({t, b});
        }
        std::vector<std::vector<double>> split_times(candidates.size());
        for (int r = 0; r < reps; ++r) {
            for (std::size_t k = 0; k < candidates.size(); ++k) {
                apply_thread_split(candidates[k]);
                split_times[k].push_back(seconds_of([&] { (void)model->forward(tokens); }));
            }
        }
        json rows = json::array();
        for (std::size_t k = 0; k < candidates.size(); ++k) {
            rows.push_back({{"torch", candidates[k].torch_threads},
                            {"blas", candidates[k].blas_threads},
                            {"forward_ms", summary_ms(split_times[k])}});
        }
        out["thread_splits"] = rows;
        apply_thread_split(split);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
}
