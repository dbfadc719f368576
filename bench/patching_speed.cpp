// An activation patching sweep (resid_pre, attn_out, mlp_out by layer and position,
// head_out by layer and head) against the plain loop it replaces: one full forward of
// the corrupted prompt per cell, with that one patch, full logits, same threads, same
// run. Interleaved and repeated; medians. Also reports the largest difference between
// the two over every cell.
//
// usage: bench_patching [--shape S] [--positions P] [--reps N] [--threads N] [--smoke]

#include "bench/args.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/analysis/patching.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/threads.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

int main(int argc, char** argv) {
    int reps = 3, threads = 0;
    int64_t positions = 20;
    std::string shape = "gpt2-small";
    bool smoke = false;
    const bool parsed = BenchArgs("bench_patching")
                            .text("--shape", shape, "S")
                            .integer("--positions", positions, int64_t{2}, "P")
                            .integer("--reps", reps, 1)
                            .integer("--threads", threads, 1)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1, positions = 4;
    apply_thread_split(default_thread_split(threads));
    const BenchModel bench = bench_model(shape);
    const ModelConfig& c = bench.config;

    // Two prompts that differ in a few positions, as a clean/corrupted pair does.
    PatchingRequest request;
    for (int64_t i = 0; i < positions; ++i) {
        request.clean.push_back((i * 104729 + 7) % c.d_vocab);
        request.corrupted.push_back(i % 5 == 2 ? (i * 7919 + 11) % c.d_vocab : request.clean.back());
    }

    std::vector<double> sweep_s, loop_s;
    double max_difference = 0;
    int64_t cells = 0;
    for (int r = 0; r < reps; ++r) {
        std::optional<PatchingResult> result;
        sweep_s.push_back(seconds([&] { result = patching_sweep(*bench.model, request); }));
        loop_s.push_back(seconds([&] {
            const ActivationCache clean = bench.model->run_with_cache(request.clean);
            cells = 0;
            for (const PatchingGrid& grid : result->grids) {
                // A smoke run checks the loop on the first layer alone: the full loop
                // is hundreds of forwards of the whole model.
                const int64_t layers = smoke ? 1 : grid.logit_diff.size(0);
                for (int layer = 0; layer < layers; ++layer) {
                    for (int64_t cell = 0; cell < grid.logit_diff.size(1); ++cell, ++cells) {
                        const double single =
                            patched_logit_diff_by_full_forward(*bench.model, request.corrupted, clean, grid.site, layer,
                                                               cell, result->answer, result->wrong);
                        max_difference =
                            std::max(max_difference, std::abs(single - grid.logit_diff[layer][cell].item<double>()));
                    }
                }
            }
        }));
    }
    const ThreadSplit split = current_thread_split();
    json out{{"benchmark", "activation patching sweep"},
             {"shape", shape},
             {"positions", positions},
             {"sites", {"resid_pre", "attn_out", "mlp_out", "head_out"}},
             {"cells", cells},
             {"reps", reps},
             {"kernels", kernels::level_name(kernels::level())},
             {"threads", {{"torch", split.torch_threads}, {"blas", split.blas_threads}}},
             {"sweep_s_median", median(sweep_s)},
             {"loop_of_full_forwards_s_median", median(loop_s)},
             {"sweep_s_all", sweep_s},
             {"loop_s_all", loop_s},
             {"speedup", median(loop_s) / median(sweep_s)},
             {"speedup_at_least", 4.0},
             {"max_abs_difference", max_difference}};
    std::cout << out.dump(2) << "\n";
    return 0;
}
