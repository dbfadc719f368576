// The logit lens as the window computes it: a forward recording the residual stream
// before every block and after the last, then every layer's residual through the final
// norm and the unembedding, with the top 5 tokens and the next token's probability and
// rank at each position. On a model shaped like GPT-2 small (default) or another bench
// shape, random weights. Beside it, its GEMM bound: the pass's FLOPs (the forward's,
// 2 · P · product parameters + 4 · P² · D · L, and the lens's, 2 · P · D · V per layer
// read) at the float32 GEMM rate measured in the same run. Interleaved and repeated;
// medians.
//
// usage: bench_lens [--shape S] [--positions P] [--reps N] [--threads N] [--smoke]

#include "bench/args.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/analysis/analysis.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/threads.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

int main(int argc, char** argv) {
    int reps = 5, threads = 0;
    int64_t positions = 500;
    std::string shape = "gpt2-small";
    bool smoke = false;
    const bool parsed = BenchArgs("bench_lens")
                            .text("--shape", shape, "S")
                            .integer("--positions", positions, int64_t{2}, "P")
                            .integer("--reps", reps, 1)
                            .integer("--threads", threads, 1)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1, positions = 16;
    apply_thread_split(default_thread_split(threads));
    const BenchModel bench = bench_model(shape);
    const ModelConfig& c = bench.config;
    std::vector<int64_t> tokens(static_cast<std::size_t>(positions));
    for (std::size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = static_cast<int64_t>((i * 104729 + 7) % static_cast<std::size_t>(c.d_vocab));
    const NamesFilter filter(exact_names_filter(lens_hooks(c)));
    const std::vector<int64_t> targets = next_tokens(tokens);

    std::vector<double> gemm_rate, forward_s, lens_s;
    for (int r = 0; r < reps; ++r) {
        gemm_rate.push_back(gemm_gflops());
        ActivationCache cache;
        forward_s.push_back(seconds([&] { cache = bench.model->run_with_cache(tokens, filter); }));
        lens_s.push_back(seconds([&] { (void)logit_lens(*bench.model, cache, 5, targets); }));
    }
    const double p = static_cast<double>(positions);
    const double layers_read = static_cast<double>(lens_hooks(c).size());
    const double forward_flops =
        2 * p * bench.product_parameters + 4 * p * p * static_cast<double>(c.d_model * c.n_layers);
    const double lens_flops = 2 * p * static_cast<double>(c.d_model * c.d_vocab) * layers_read;
    const double bound_s = (forward_flops + lens_flops) / (median(gemm_rate) * 1e9);
    const double total_s = median(forward_s) + median(lens_s);
    const ThreadSplit split = current_thread_split();
    json out{{"benchmark", "logit lens"},
             {"shape", shape},
             {"positions", positions},
             {"layers_read", layers_read},
             {"top_k", 5},
             {"reps", reps},
             {"kernels", kernels::level_name(kernels::level())},
             {"threads", {{"torch", split.torch_threads}, {"blas", split.blas_threads}}},
             {"gemm_gflops_median", median(gemm_rate)},
             {"forward_s_median", median(forward_s)},
             {"lens_s_median", median(lens_s)},
             {"lens_s_all", lens_s},
             {"gflop", (forward_flops + lens_flops) / 1e9},
             {"gemm_bound_s", bound_s},
             {"time_over_bound", total_s / bound_s},
             {"time_over_bound_at_most", 2.0}};
    std::cout << out.dump(2) << "\n";
    return 0;
}
