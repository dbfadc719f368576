// Decode speed of generate() on a model shaped like GPT-2 small (default), Pythia-160M
// or SmolLM-135M (random weights, float32 or bfloat16): 32-token prompt, 128 new tokens, greedy. Beside it, the
// physical bound: read-only memory bandwidth measured in the same run (a streaming reduction over 1 GiB, far beyond the
// caches, on every core) divided by the bytes of weights each decoded token reads. Also the recompute pass over 512
// positions with every hook captured: its time against a plain forward, and its memory (peak RSS growth against the
// bytes of the cached tensors). Beside the decode, the same decode on LibTorch's ops with OpenBLAS, as an eager
// framework runs it. Beside the recompute, the float32 GEMM rate measured in the same run
// and the pass's fraction of it (its FLOPs: 2 · P · the parameters of every product, the
// unembedding included, + 4 · P² · D · L for the attention's full square). Beside the
// decode, the same greedy loop recording a names filter that matches nothing (every hook
// call made and declined) against Model::decode (no recorder). Measurements are
// interleaved and repeated; medians. Timings run on the C library's allocator
// as the app does; the memory figure is taken last, with freed blocks returned at once.
//
// usage: bench_decode [--shape S] [--dtype D] [--reps N] [--threads N] [--positions P] [--splits]
//                     [--decode-only] [--against-float32] [--smoke]
//   --shape        gpt2-small (default), pythia-160m, smollm-135m or llama-1b
//   --dtype        float32 (default) or bfloat16 (Precision::BFloat16)
//   --positions    the recompute's length (default 512)
//   --against-float32  with bfloat16: also the float32 model's prompt pass and plain
//                  forward, interleaved, and bfloat16's time over float32's
//   --new-tokens N tokens to decode (default 128)
//   --save DIR     write the shape's random weights as a checkpoint folder (config.json and
//                  model.safetensors, every tensor in --dtype) and exit
//   --model DIR    load that folder at --dtype instead of building weights in memory, and
//                  report the load's time and peak memory (VmHWM, mapped file pages included)
//   --splits       also decode under each LibTorch/OpenBLAS thread split
//   --decode-only  skip the kernel and recompute measurements
//   --decode-loop  only decode, --reps times, and print each run's tokens/s (for profilers)

#include "bench/args.h"
#include "bench/memory_read.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/model/block_pool.h"
#include "bridge/model/checkpoint.h"
#include "bridge/model/generate.h"
#include "bridge/model/kernels/kernels.h"
#include "bridge/model/kv_cache.h"
#include "bridge/model/layers.h"
#include "bridge/model/threads.h"
#include "bridge/model/weights.h"

#include <nlohmann/json.hpp>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

namespace {

// Read-only bandwidth in GB/s: each core sums its share of `buffer` with `kernel`.
double read_once_gbs(const at::Tensor& buffer, int cores, const ReadKernel& kernel) {
    std::vector<double> sums(static_cast<std::size_t>(cores));
    const std::size_t share = static_cast<std::size_t>(buffer.numel()) / static_cast<std::size_t>(cores);
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < cores; ++t) {
        threads.emplace_back([&, t] {
            const float* p = buffer.data_ptr<float>() + static_cast<std::size_t>(t) * share;
            sums[static_cast<std::size_t>(t)] = kernel.sum(p, share);
        });
    }
    for (auto& t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    volatile double sink = 0;
    for (const double s : sums)
        sink = sink + s;
    return static_cast<double>(share * static_cast<std::size_t>(cores) * sizeof(float)) / 1e9 / seconds;
}

// One repetition's reading of the machine's read bandwidth, in GB/s.
struct BandwidthReading {
    double median; // the bound's: see read_bandwidth
    double best;
};

// Five reads of `buffer` by `kernel`, after a pause in which the threads of the BLAS and
// of the kernels, which spin for a while after their last job, fall asleep: while they
// spin, they take cores from the reading threads and the reading comes out low (the
// decode then read faster than the "bound"). The bound is their median, not their best:
// one read takes a few hundredths of a second, the decode it is compared with a second
// or more, and on a shared host the best of several short reads is the host's quietest
// moment rather than a rate the machine holds (on a Zen 5 VM the best of five read 1-33%
// above their median, 6% in the median run of twelve); both are reported.
BandwidthReading read_bandwidth(const at::Tensor& buffer, int cores, const ReadKernel& kernel) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::vector<double> reads;
    for (int r = 0; r < 5; ++r)
        reads.push_back(read_once_gbs(buffer, cores, kernel));
    return {median(reads), *std::max_element(reads.begin(), reads.end())};
}

// The sum that reads fastest on this CPU (read_kernels: none does everywhere), by the
// median of five reads each. Which one it is belongs to the CPU, so it is chosen once.
ReadKernel fastest_read(const at::Tensor& buffer, int cores) {
    const std::vector<ReadKernel> kernels = read_kernels();
    ReadKernel fastest = kernels.front();
    double best = 0;
    for (const ReadKernel& kernel : kernels) {
        const double gbs = read_bandwidth(buffer, cores, kernel).median;
        if (gbs > best) best = gbs, fastest = kernel;
    }
    return fastest;
}

// a[i] / b[i] for each repetition: the two loops of one repetition run back to back,
// so the host's memory traffic, which moves whole runs by up to a quarter on shared
// machines, touches both alike; the median of these ratios is far steadier than the
// ratio of the two medians.
std::vector<double> paired_ratios(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
        ratios.push_back(a[i] / b[i]);
    return ratios;
}

long rss_kib(const char* field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
    }
    return -1;
}

// Resets the peak RSS to the current RSS (Linux 4.0+), so VmHWM measures one pass.
void reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

// Greedy decoding of `steps` tokens after `prompt` through Model::decode, or through
// decode_with_cache with `filter` when given; tokens per second of the steps.
double greedy_tokens_per_s(const Model& model, const std::vector<int64_t>& prompt, int64_t steps,
                           const NamesFilter* filter) {
    const auto past = model.new_kv_cache(static_cast<int64_t>(prompt.size()) + steps);
    const auto step = [&](const std::vector<int64_t>& tokens) {
        return filter ? model.decode_with_cache(tokens, *past, *filter).logits().flatten()
                      : model.decode(tokens, *past);
    };
    int64_t next = step(prompt).argmax().item<int64_t>();
    const auto start = Clock::now();
    for (int64_t n = 0; n < steps; ++n)
        next = step({next}).argmax().item<int64_t>();
    return static_cast<double>(steps) / std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
    int reps = 5, threads = 0;
    int64_t prompt_length = 32, new_tokens = 128, recompute_positions = 512;
    bool splits = false, smoke = false, decode_only = false, decode_loop = false, against_float32 = false;
    std::string save_dir, model_dir;
    std::string shape = "gpt2-small";
    Precision precision = Precision::Float32;
    const bool parsed = BenchArgs("bench_decode")
                            .text("--shape", shape, "S")
                            .precision("--dtype", precision)
                            .integer("--reps", reps, 1)
                            .integer("--threads", threads, 1)
                            .integer("--positions", recompute_positions, int64_t{1}, "P")
                            .integer("--new-tokens", new_tokens, int64_t{2})
                            .flag("--splits", splits)
                            .flag("--decode-only", decode_only)
                            .flag("--decode-loop", decode_loop)
                            .flag("--against-float32", against_float32)
                            .text("--save", save_dir, "DIR")
                            .text("--model", model_dir, "DIR")
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1, new_tokens = 4, recompute_positions = 16;
    apply_thread_split(default_thread_split(threads));
    const ThreadSplit split = current_thread_split();
    const int cores = available_cores();

    if (!save_dir.empty()) {
        RandomShape r = random_shape(shape);
        std::filesystem::create_directories(save_dir);
        std::ofstream(std::filesystem::path(save_dir) / "config.json") << r.config_json;
        for (auto& [name, tensor] : r.weights)
            tensor = tensor.to(precision == Precision::BFloat16 ? at::kBFloat16 : at::kFloat);
        const auto file = std::filesystem::path(save_dir) / "model.safetensors";
        write_safetensors(file, r.weights);
        std::cout << json{{"saved", file.string()}, {"bytes", std::filesystem::file_size(file)}}.dump(2) << "\n";
        return 0;
    }
    json load;
    const BenchModel bench = [&] {
        if (model_dir.empty()) return bench_model(shape, precision);
        BenchModel b;
        const long rss_before = rss_kib("VmRSS:");
        const auto start = Clock::now();
        b.model = Model::load(model_dir, precision);
        const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
        const long peak = rss_kib("VmHWM:");
        b.config = b.model->config();
        b.shape = model_dir;
        double vectors = 0;
        const auto file = SafetensorsFile::open(std::filesystem::path(model_dir) / "model.safetensors");
        for (const TensorInfo& t : file->tensors()) // the file outlives the loop
            vectors += t.shape.size() < 2 ? static_cast<double>(c10::multiply_integers(t.shape)) : 0.0;
        measure_sizes(b, vectors);
        const double weight_bytes = static_cast<double>(Checkpoint::open(model_dir).compute_bytes(precision));
        load = {{"load_s", load_s},
                {"rss_before_load_bytes", rss_before * 1024},
                {"peak_rss_after_load_bytes", peak * 1024},
                {"weight_bytes", weight_bytes},
                {"peak_rss_bound_bytes", 1.15 * weight_bytes + 300e6}};
        return b;
    }();
    const ModelConfig& config = bench.config;
    const auto& model = bench.model;
    std::vector<int64_t> prompt(static_cast<std::size_t>(prompt_length));
    for (std::size_t i = 0; i < prompt.size(); ++i)
        prompt[i] = static_cast<int64_t>((i * 7919 + 13) % static_cast<std::size_t>(config.d_vocab));
    GenerateOptions options;
    options.max_new_tokens = new_tokens;
    options.sampling.do_sample = false;
    options.stop_at_eos = false;

    if (decode_loop) {
        (void)generate(*model, prompt, options); // warm-up: page the weights in
        json runs = json::array();
        for (int r = 0; r < reps; ++r)
            runs.push_back(generate(*model, prompt, options).tokens_per_second.value_or(0));
        std::cout << json{{"benchmark", "decode_loop"}, {"decode_tokens_per_s", runs}}.dump(2) << "\n";
        return 0;
    }
    // On huge pages, as the model's converted weights are, so that the bound is what the
    // machine reads at best. 1 GiB.
    const at::Tensor buffer = huge_page_tensor({smoke ? int64_t{1} << 22 : int64_t{1} << 28}, at::kFloat).fill_(1.0f);
    (void)read_once_gbs(buffer, cores, read_kernels().front()); // warm-up: page the buffer in
    const ReadKernel read_kernel = fastest_read(buffer, cores);
    (void)generate(*model, prompt, options); // warm-up: page the weights in
    std::vector<double> bandwidth, best_read, decode_tps, prompt_s, libtorch_tps, plain_loop_tps, declined_hooks_tps;
    const NamesFilter matches_nothing("no.such.hook");
    for (int r = 0; r < reps; ++r) {
        const BandwidthReading reading = read_bandwidth(buffer, cores, read_kernel);
        bandwidth.push_back(reading.median);
        best_read.push_back(reading.best);
        const GenerateResult result = generate(*model, prompt, options);
        decode_tps.push_back(result.tokens_per_second.value_or(0));
        prompt_s.push_back(result.prompt_s);
        // Every hook call made and declined, against none made, in turn.
        const bool hooks_first = r % 2 == 0;
        const double a = greedy_tokens_per_s(*model, prompt, new_tokens, hooks_first ? &matches_nothing : nullptr);
        const double b = greedy_tokens_per_s(*model, prompt, new_tokens, hooks_first ? nullptr : &matches_nothing);
        declined_hooks_tps.push_back(hooks_first ? a : b);
        plain_loop_tps.push_back(hooks_first ? b : a);
        // The same decode on LibTorch's ops and OpenBLAS (the eager path Hugging Face takes).
        kernels::enable_decode_kernels(false);
        libtorch_tps.push_back(generate(*model, prompt, options).tokens_per_second.value_or(0));
        kernels::enable_decode_kernels(true);
    }
    const double bytes_per_token = bench.bytes_per_token;

    // The kernels alone: the unembedding product [50257, 768], and the four products of
    // every block ([d, 3d], [d, d], [d, mlp], [mlp, d]) over separate matrices per layer
    // as in the model, in float32 and in bfloat16, in GB/s of weights read.
    std::vector<double> rows_gbs{0}, in_out_gbs{0}, rows_bf16_gbs{0}, rows_bf16_speedup{0}, in_out_bf16_gbs{0},
        panels_gbs{0}, panels_bf16_gbs{0};
    if (!decode_only) {
        rows_gbs.clear(), in_out_gbs.clear(), rows_bf16_gbs.clear(), rows_bf16_speedup.clear(), in_out_bf16_gbs.clear();
        panels_gbs.clear(), panels_bf16_gbs.clear();
        // On huge pages, as the model holds its weights.
        const auto held = [](const at::Tensor& t) { return huge_page_tensor(t.sizes(), t.scalar_type()).copy_(t); };
        const at::Tensor unembed = held(at::randn({config.d_vocab, config.d_model}));
        std::vector<at::Tensor> blocks, blocks_bf16, panels, panels_bf16; // panels: as GPT-2 holds them
        int64_t block_values = 0;
        for (int64_t i = 0; i < config.n_layers; ++i) {
            for (const auto& [in, out] :
                 {std::pair{config.d_model, 3 * config.d_model}, std::pair{config.d_model, config.d_model},
                  std::pair{config.d_model, config.d_mlp}, std::pair{config.d_mlp, config.d_model}}) {
                blocks.push_back(held(at::randn({in, out})));
                blocks_bf16.push_back(held(blocks.back().to(at::kBFloat16)));
                panels.push_back(layers::to_panels(blocks.back()));
                panels_bf16.push_back(layers::to_panels(blocks_bf16.back()));
                block_values += in * out;
            }
        }
        const at::Tensor unembed_bf16 = held(unembed.to(at::kBFloat16));
        const auto* bf16 = reinterpret_cast<const uint16_t*>(unembed_bf16.data_ptr<at::BFloat16>());
        const at::Tensor x = at::randn({config.d_mlp});
        at::Tensor y = at::empty({std::max(config.d_vocab, 3 * config.d_model)});
        const auto seconds_since = [](Clock::time_point start) {
            return std::chrono::duration<double>(Clock::now() - start).count();
        };
        for (int r = 0; r < reps; ++r) {
            auto start = Clock::now();
            kernels::gemv_rows(unembed.data_ptr<float>(), config.d_vocab, config.d_model, x.data_ptr<float>(), nullptr,
                               y.data_ptr<float>());
            const double f32_s = seconds_since(start);
            rows_gbs.push_back(static_cast<double>(unembed.numel()) * 4 / 1e9 / f32_s);
            start = Clock::now();
            kernels::gemv_rows_bf16(bf16, config.d_vocab, config.d_model, x.data_ptr<float>(), nullptr,
                                    y.data_ptr<float>());
            const double bf16_s = seconds_since(start);
            rows_bf16_gbs.push_back(static_cast<double>(unembed.numel()) * 2 / 1e9 / bf16_s);
            rows_bf16_speedup.push_back(f32_s / bf16_s);
            start = Clock::now();
            for (const at::Tensor& w : blocks) {
                kernels::gemv_in_out(w.data_ptr<float>(), w.size(0), w.size(1), x.data_ptr<float>(), nullptr,
                                     y.data_ptr<float>());
            }
            in_out_gbs.push_back(static_cast<double>(block_values) * 4 / 1e9 / seconds_since(start));
            start = Clock::now();
            for (const at::Tensor& w : blocks_bf16) {
                kernels::gemv_in_out_bf16(reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>()), w.size(0),
                                          w.size(1), x.data_ptr<float>(), nullptr, y.data_ptr<float>());
            }
            in_out_bf16_gbs.push_back(static_cast<double>(block_values) * 2 / 1e9 / seconds_since(start));
            start = Clock::now();
            for (const at::Tensor& w : panels) {
                kernels::gemv_panels(w.data_ptr<float>(), w.size(1), w.size(0) * w.size(2), x.data_ptr<float>(),
                                     nullptr, y.data_ptr<float>());
            }
            panels_gbs.push_back(static_cast<double>(block_values) * 4 / 1e9 / seconds_since(start));
            start = Clock::now();
            for (const at::Tensor& w : panels_bf16) {
                kernels::gemv_panels_bf16(layers::bf16_data(w), w.size(1), w.size(0) * w.size(2), x.data_ptr<float>(),
                                          nullptr, y.data_ptr<float>());
            }
            panels_bf16_gbs.push_back(static_cast<double>(block_values) * 2 / 1e9 / seconds_since(start));
        }
    }
    const double bound = median(bandwidth) * 1e9 / bytes_per_token;

    json out;
    out["benchmark"] = "decode";
    if (!load.is_null()) out["load"] = load;
    out["model"] = {{"shape", bench.shape},
                    {"parameters", model->parameter_count()},
                    {"dtype", std::string(precision_name(precision))}};
    out["prompt_tokens"] = prompt_length;
    out["new_tokens"] = new_tokens;
    out["reps"] = reps;
    out["threads"] = {{"torch", split.torch_threads}, {"blas", split.blas_threads}, {"cores", cores}};
    out["read_bandwidth_gbs_median"] = median(bandwidth);
    out["read_bandwidth_best_of_reads_gbs_median"] = median(best_read);
    out["read_kernel"] = read_kernel.name;
    out["weight_bytes_per_token"] = bytes_per_token;
    out["decode_tokens_per_s_median"] = median(decode_tps);
    out["decode_tokens_per_s_all"] = decode_tps;
    out["libtorch_ops_decode_tokens_per_s_median"] = median(libtorch_tps);
    out["speedup_over_libtorch_ops"] = median(decode_tps) / median(libtorch_tps);
    out["bound_tokens_per_s"] = bound;
    out["fraction_of_bound"] = median(decode_tps) / bound;
    // The same, each repetition's decode over the probe taken just before it: the host's
    // memory traffic moves both, and a median of the two medians pairs a fast probe with
    // a slow decode as readily as with a fast one.
    std::vector<double> decode_gbs;
    for (const double tps : decode_tps)
        decode_gbs.push_back(tps * bytes_per_token / 1e9);
    out["fraction_of_bound_paired_median"] = median(paired_ratios(decode_gbs, bandwidth));
    out["fraction_of_best_read_paired_median"] = median(paired_ratios(decode_gbs, best_read));
    // Twice what Hugging Face transformers decodes on these machines.
    out["target_tokens_per_s_at_least"] = shape == "pythia-160m" ? 54.0 : shape == "smollm-135m" ? 42.0 : 50.0;
    out["prompt_s_median"] = median(prompt_s);
    out["hook_calls"] = {{"decode_tokens_per_s_median", median(plain_loop_tps)},
                         {"declined_hooks_decode_tokens_per_s_median", median(declined_hooks_tps)},
                         {"ratio", median(paired_ratios(declined_hooks_tps, plain_loop_tps))},
                         {"ratio_bound_at_least", 0.97}};
    out["kernels"] = {{"level", kernels::level_name(kernels::level())},
                      {"threads", kernels::threads()},
                      {"unembed_rows_gbs_median", median(rows_gbs)},
                      {"unembed_rows_bf16_weights_gbs_median", median(rows_bf16_gbs)},
                      {"unembed_rows_bf16_speedup_median", median(rows_bf16_speedup)},
                      {"blocks_in_out_gbs_median", median(in_out_gbs)},
                      {"blocks_in_out_bf16_gbs_median", median(in_out_bf16_gbs)},
                      {"blocks_panels_gbs_median", median(panels_gbs)},
                      {"blocks_panels_bf16_gbs_median", median(panels_bf16_gbs)}};

    if (splits) {
        const std::vector<ThreadSplit> candidates{{1, 1}, {1, cores}, {cores, 1}, {cores, cores}};
        json rows = json::array();
        std::vector<std::vector<double>> tps(candidates.size());
        for (int r = 0; r < reps; ++r) {
            for (std::size_t k = 0; k < candidates.size(); ++k) {
                apply_thread_split(candidates[k]);
                tps[k].push_back(generate(*model, prompt, options).tokens_per_second.value_or(0));
            }
        }
        for (std::size_t k = 0; k < candidates.size(); ++k) {
            rows.push_back({{"torch", candidates[k].torch_threads},
                            {"blas", candidates[k].blas_threads},
                            {"decode_tokens_per_s_median", median(tps[k])}});
        }
        out["thread_splits"] = rows;
        apply_thread_split(split);
    }

    if (decode_only) {
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    // The recompute pass: every hook over `recompute_positions`, against a plain forward.
    std::vector<int64_t> long_tokens(static_cast<std::size_t>(recompute_positions));
    for (std::size_t i = 0; i < long_tokens.size(); ++i)
        long_tokens[i] = static_cast<int64_t>((i * 104729 + 7) % static_cast<std::size_t>(config.d_vocab));
    std::vector<double> plain_s, cached_s, gemm_rate;
    long growth_kib = 0;
    int64_t cache_bytes = 0;
    // Timed with the C library's allocator as the app runs it: blocks freed by one pass
    // serve the next, as they do when a user generates again.
    for (int r = 0; r < reps; ++r) {
        gemm_rate.push_back(gemm_gflops());
        plain_s.push_back(seconds([&] { (void)model->forward(long_tokens); }));
        cached_s.push_back(seconds([&] { (void)model->run_with_cache(long_tokens); }));
    }
    out["recompute"] = {{"positions", recompute_positions},
                        {"plain_forward_s_median", median(plain_s)},
                        {"all_hooks_s_median", median(cached_s)},
                        {"time_ratio", median(cached_s) / median(plain_s)}};
    const double p = static_cast<double>(recompute_positions);
    const double flops = 2 * p * bench.product_parameters +
                         4 * p * p * static_cast<double>(config.d_model) * static_cast<double>(config.n_layers);
    out["recompute"]["gflop"] = flops / 1e9;
    out["recompute"]["gemm_gflops_median"] = median(gemm_rate);
    out["recompute"]["all_hooks_fraction_of_gemm_rate"] = flops / median(cached_s) / 1e9 / median(gemm_rate);
    out["recompute"]["fraction_bound_at_least"] = 0.6;

    if (against_float32 && precision == Precision::BFloat16) {
        // The same passes on the float32 model, interleaved with the bfloat16 ones.
        BenchModel reference;
        if (model_dir.empty()) {
            reference = bench_model(shape, Precision::Float32);
        } else {
            reference.model = Model::load(model_dir, Precision::Float32);
        }
        std::vector<double> prompt_ratio, forward_ratio;
        const auto prompt_pass = [&](const Model& m) {
            return seconds([&] { (void)m.decode(prompt, *m.new_kv_cache(prompt_length)); });
        };
        const auto forward_pass = [&](const Model& m) { return seconds([&] { (void)m.forward(long_tokens); }); };
        // Each repetition times a pair in both orders: the pass that runs second reuses
        // the memory the first freed, while the first may fault in fresh pages, so the
        // order favours one side (with one order per repetition, alternating, an odd
        // count of repetitions left the median leaning to the order taken more often).
        const auto ratio = [&](const auto& pass, bool bf16_first) {
            if (bf16_first) {
                const double bf16 = pass(*model);
                return bf16 / pass(*reference.model);
            }
            const double f32 = pass(*reference.model);
            return pass(*model) / f32;
        };
        for (int r = 0; r < reps; ++r) {
            for (const bool bf16_first : {true, false}) {
                prompt_ratio.push_back(ratio(prompt_pass, bf16_first));
                forward_ratio.push_back(ratio(forward_pass, bf16_first));
            }
        }
        out["bfloat16_over_float32"] = {{"prompt_pass_time_ratio_median", median(prompt_ratio)},
                                        {"forward_time_ratio_median", median(forward_ratio)},
                                        {"ratio_bound_at_most", 1.05}};
    }
    // Memory, after the timings: freed blocks go back to the system at once, so that
    // peak RSS growth measures this one pass and nothing left over from the last.
    mallopt(M_MMAP_THRESHOLD, 1 << 17);
    mallopt(M_TRIM_THRESHOLD, 1 << 17);
    malloc_trim(0);
    block_pool::release_pooled_memory();
    reset_peak_rss();
    const long before = rss_kib("VmRSS:");
    {
        const ActivationCache cache = model->run_with_cache(long_tokens);
        cache_bytes = cache.total_bytes() + cache.logits().numel() * 4;
        growth_kib = rss_kib("VmHWM:") - before;
    }
    out["recompute"]["cache_bytes"] = cache_bytes;
    out["recompute"]["peak_rss_growth_bytes"] = growth_kib * 1024;
    out["recompute"]["memory_overhead_pct"] =
        100.0 * (static_cast<double>(growth_kib) * 1024 / static_cast<double>(cache_bytes) - 1);
    out["recompute"]["memory_overhead_bound_pct"] = 15.0;
    std::cout << out.dump(2) << "\n";
    return 0;
}
