// `collect` throughput: an activation dataset of the residual stream after every block
// (blocks.*.hook_resid_post) for prompts of uniform random length (fixed seed), in
// batches of --batch-prompts against one forward per prompt (batches of one). Both run
// the same collect_dataset and write the same shards; both forwards end after the last
// selected hook point. Interleaved and repeated, medians, tokens per second. Also the
// float32 GEMM rate of the same run, for scale: the forwards' FLOPs over it. And the
// bound the matrix products alone put on the speedup: the blocks' products (random
// weights of the same shapes, a layer's own each time, so they come from memory as in a
// forward) over each batch's packed rows against over each prompt's rows, interleaved.
//
// usage: bench_collect [--shape S] [--prompts N] [--min-tokens A] [--max-tokens B]
//                      [--batch-prompts K] [--reps N] [--threads N] [--smoke] [--batched-only]
//                      [--without-row-padding]
// --without-row-padding: also both collects with the BLAS products' rows left unpadded
// (layers::blas_product), interleaved, for what the padding gains.
// --batched-only: the batched runs alone, for profilers (no comparison printed).

#include "bench/args.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/io/collect.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/layers.h"
#include "bridge/model/threads.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <random>
#include <string>

#include <unistd.h>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    int reps = 3, threads = 0, batch_prompts = 8;
    int64_t prompts = 64, min_tokens = 8, max_tokens = 64;
    std::string shape = "gpt2-small";
    bool smoke = false, batched_only = false, without_padding = false;
    const bool parsed = BenchArgs("bench_collect")
                            .text("--shape", shape, "S")
                            .integer("--prompts", prompts, int64_t{1})
                            .integer("--min-tokens", min_tokens, int64_t{1}, "A")
                            .integer("--max-tokens", max_tokens, int64_t{1}, "B")
                            .integer("--batch-prompts", batch_prompts, 1, "K")
                            .integer("--reps", reps, 1)
                            .integer("--threads", threads, 1)
                            .flag("--smoke", smoke)
                            .flag("--batched-only", batched_only)
                            .flag("--without-row-padding", without_padding)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1, prompts = 4, max_tokens = std::min<int64_t>(max_tokens, 12);
    max_tokens = std::max(min_tokens, max_tokens);
    apply_thread_split(default_thread_split(threads));
    const BenchModel bench = bench_model(shape);
    const ModelConfig& c = bench.config;

    CollectRequest request;
    request.hooks = dataset_hooks(*bench.model, NamesFilter("blocks.*.hook_resid_post"));
    request.identity.model = shape;
    request.identity.names_filter = "blocks.*.hook_resid_post";
    std::mt19937_64 random(20261204);
    std::uniform_int_distribution<int64_t> length(min_tokens, max_tokens), token(0, c.d_vocab - 1);
    int64_t tokens = 0;
    for (int64_t p = 0; p < prompts; ++p) {
        std::vector<int64_t> ids(static_cast<std::size_t>(length(random)));
        for (int64_t& id : ids)
            id = token(random);
        tokens += static_cast<int64_t>(ids.size());
        request.prompts.push_back(std::move(ids));
    }

    const fs::path folder = fs::temp_directory_path() / ("bench_collect_" + std::to_string(::getpid()));
    // Seconds for the whole dataset in batches of `batch`, into an empty folder.
    const auto run = [&](int batch) {
        fs::remove_all(folder);
        CollectRequest r = request;
        r.folder = folder;
        r.batch_prompts = batch;
        r.identity.options = {{"batch_prompts", batch}};
        const double s = seconds([&] { collect_dataset(*bench.model, r); });
        fs::remove_all(folder);
        return s;
    };
    run(batch_prompts); // pages in the weights and the allocator's pools
    if (batched_only) {
        for (int r = 0; r < reps; ++r)
            std::cout << json{{"batched_tokens_per_s", static_cast<double>(tokens) / run(batch_prompts)}}.dump()
                      << "\n";
        return 0;
    }

    // The blocks' weight matrices [in, out], per layer.
    const int64_t d = c.d_model, attn = c.n_heads * c.d_head, kv = c.n_kv_heads * c.d_head;
    std::vector<std::vector<at::Tensor>> layer_weights;
    for (int64_t l = 0; l < c.n_layers; ++l) {
        std::vector<at::Tensor> w{at::randn({d, attn + 2 * kv}), at::randn({attn, d}), at::randn({d, c.d_mlp}),
                                  at::randn({c.d_mlp, d})};
        if (c.gated_mlp) w.push_back(at::randn({d, c.d_mlp}));
        layer_weights.push_back(std::move(w));
    }
    // Seconds of the products over row counts `rows` (one forward each).
    const auto products = [&](const std::vector<int64_t>& rows) {
        return seconds([&] {
            for (const int64_t m : rows) {
                for (const auto& layer : layer_weights) {
                    for (const at::Tensor& w : layer)
                        (void)layers::blas_product(at::ones({m, w.size(0)}), w, {});
                }
            }
        });
    };
    std::vector<int64_t> prompt_rows, batch_rows;
    for (std::size_t p = 0; p < request.prompts.size(); ++p) {
        prompt_rows.push_back(static_cast<int64_t>(request.prompts[p].size()));
        if (p % static_cast<std::size_t>(batch_prompts) == 0) batch_rows.push_back(0);
        batch_rows.back() += prompt_rows.back();
    }

    std::vector<double> batched_s, single_s, batched_products_s, single_products_s, unpadded_batched_s,
        unpadded_single_s;
    for (int r = 0; r < reps; ++r) {
        // Alternate which goes first, so neither always meets a cache the other warmed.
        if (r % 2 == 0) {
            batched_s.push_back(run(batch_prompts));
            single_s.push_back(run(1));
        } else {
            single_s.push_back(run(1));
            batched_s.push_back(run(batch_prompts));
        }
        if (without_padding) {
            layers::enable_row_padding(false);
            unpadded_batched_s.push_back(run(batch_prompts));
            unpadded_single_s.push_back(run(1));
            layers::enable_row_padding(true);
        }
        batched_products_s.push_back(products(batch_rows));
        single_products_s.push_back(products(prompt_rows));
    }
    // What the forwards compute up to the last block's output: every block's products
    // over the real tokens (2 FLOPs per parameter and token), attention's two products.
    double flops = 0;
    for (const std::vector<int64_t>& ids : request.prompts) {
        const auto p = static_cast<double>(ids.size());
        const double block_parameters =
            static_cast<double>(c.d_model) * static_cast<double>(c.n_heads * c.d_head + 2 * c.n_kv_heads * c.d_head) +
            static_cast<double>(c.n_heads * c.d_head) * static_cast<double>(c.d_model) +
            static_cast<double>(c.d_model) * static_cast<double>(c.d_mlp) * (c.gated_mlp ? 3 : 2);
        flops += 2 * p * block_parameters * static_cast<double>(c.n_layers) +
                 4 * p * p * static_cast<double>(c.n_heads * c.d_head) * static_cast<double>(c.n_layers);
    }
    const double gflops = gemm_gflops();
    const double batched = static_cast<double>(tokens) / median(batched_s);
    const double single = static_cast<double>(tokens) / median(single_s);
    const ThreadSplit split = current_thread_split();
    json out{{"benchmark", "collect throughput"},
             {"shape", shape},
             {"hooks", "blocks.*.hook_resid_post"},
             {"prompts", prompts},
             {"tokens", tokens},
             {"prompt_tokens", {min_tokens, max_tokens}},
             {"batch_prompts", batch_prompts},
             {"reps", reps},
             {"kernels", kernels::level_name(kernels::level())},
             {"threads", {{"torch", split.torch_threads}, {"blas", split.blas_threads}}},
             {"batched_tokens_per_s", batched},
             {"one_forward_per_prompt_tokens_per_s", single},
             {"batched_s_all", batched_s},
             {"one_forward_per_prompt_s_all", single_s},
             {"speedup", batched / single},
             {"speedup_at_least", 2.0},
             {"products_only_speedup", median(single_products_s) / median(batched_products_s)},
             {"without_row_padding",
              without_padding ? json{{"batched_tokens_per_s", static_cast<double>(tokens) / median(unpadded_batched_s)},
                                     {"one_forward_per_prompt_tokens_per_s",
                                      static_cast<double>(tokens) / median(unpadded_single_s)}}
                              : json(nullptr)},
             {"gemm_gflops", gflops},
             {"batched_fraction_of_gemm_rate", flops / median(batched_s) / 1e9 / gflops}};
    std::cout << out.dump(2) << "\n";
    return 0;
}
