// Matrix products over several positions, the work of every prompt pass and recompute:
// the float32 BLAS product (the machine's GEMM rate, the bound the passes are measured
// against) beside the bfloat16-weight product (layers::widened_product: our blocked
// kernel, weights widened into its panels; off x86-64 at the portable level, widened
// panels on the same float32 BLAS), on the shapes of GPT-2 small and a Llama-3.2-1B-sized
// model.
// Interleaved and repeated; medians.
//
// usage: bench_products [--reps N] [--threads N] [--smoke]

#include "bench/args.h"
#include "bench/timing.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/layers.h"
#include "bridge/model/threads.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

namespace {

struct Shape {
    const char* name;
    int64_t positions, in, out;
};

} // namespace

int main(int argc, char** argv) {
    int reps = 7, threads = 0;
    bool smoke = false;
    const bool parsed = BenchArgs("bench_products")
                            .integer("--reps", reps, 1)
                            .integer("--threads", threads, 1)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1;
    apply_thread_split(default_thread_split(threads));
    std::vector<Shape> shapes{
        {"gpt2-small mlp in, 512 positions", 512, 768, 3072},   {"gpt2-small unembed, 512 positions", 512, 768, 50257},
        {"gpt2-small mlp in, 32 positions", 32, 768, 3072},     {"llama-1b mlp gate, 256 positions", 256, 2048, 8192},
        {"llama-1b mlp down, 256 positions", 256, 8192, 2048},  {"llama-1b mlp gate, 32 positions", 32, 2048, 8192},
        {"llama-1b unembed, 256 positions", 256, 2048, 128256}, {"reference 512x2048x8192", 512, 2048, 8192}};
    if (smoke) shapes = {{"smoke", 8, 64, 96}};
    json rows = json::array();
    for (const Shape& s : shapes) {
        const at::Tensor x = at::randn({s.positions, s.in});
        const at::Tensor w = at::randn({s.out, s.in}) * 0.02; // nn.Linear layout
        const at::Tensor w16 = w.to(at::kBFloat16);
        const at::Tensor w_conv = w.t().contiguous(), w16_conv = w16.t().contiguous(); // Conv1D layout
        std::vector<double> f32, bf16, bf16_conv;
        (void)at::mm(x, w.t());
        for (int r = 0; r < reps; ++r) {
            f32.push_back(seconds([&] { (void)at::mm(x, w.t()); }));
            bf16.push_back(seconds([&] { (void)layers::widened_product(x, w16, true); }));
            bf16_conv.push_back(seconds([&] { (void)layers::widened_product(x, w16_conv, false); }));
        }
        const double flops = 2.0 * static_cast<double>(s.positions * s.in * s.out);
        rows.push_back({{"shape", s.name},
                        {"positions", s.positions},
                        {"in", s.in},
                        {"out", s.out},
                        {"float32_gflops_median", flops / median(f32) / 1e9},
                        {"bf16_weights_gflops_median", flops / median(bf16) / 1e9},
                        {"bf16_weights_conv1d_gflops_median", flops / median(bf16_conv) / 1e9},
                        {"bf16_time_ratio", median(bf16) / median(f32)},
                        {"bf16_conv1d_time_ratio", median(bf16_conv) / median(f32)}});
    }
    const ThreadSplit split = current_thread_split();
    json out{
        {"benchmark", "products"},
        {"kernels", kernels::level_name(kernels::level())},
        {"threads", {{"torch", split.torch_threads}, {"blas", split.blas_threads}, {"kernels", kernels::threads()}}},
        {"reps", reps},
        {"products", rows}};
    std::cout << out.dump(2) << "\n";
    return 0;
}
