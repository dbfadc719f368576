#include "bridge/model/threads.h"

#include "bridge/model/kernels/kernels.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <sched.h>
#include <string_view>

namespace hookscope {
namespace {

// OpenBLAS is reached through Debian's libblas alternative; look its controls up at
// run time so that another BLAS (or none) still links and runs.
using SetThreads = void (*)(int);
using GetThreads = int (*)();

SetThreads blas_setter() {
    static const auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    return fn;
}

GetThreads blas_getter() {
    static const auto fn = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    return fn;
}

// OpenBLAS's idle workers spin, calling sched_yield, for 2^28 cycles (about a tenth of
// a second) after each product before they sleep. Our kernels' threads (bfloat16
// products, decode steps) and LibTorch's then share the cores with them: GPT-2 small's
// bfloat16 forward at 512 positions, at the AVX2 level, measured 1.08 s with that spin
// and 0.89 s with 2^16 cycles (about 20 microseconds, still enough to carry a worker from
// one product to the next). Unless the user set OPENBLAS_THREAD_TIMEOUT, it becomes 16,
// and OpenBLAS's workers are restarted so that they read it (they start at load time,
// before main). Done once; where the functions are missing (another BLAS), nothing.
void shorten_blas_spin() {
    static const bool done = [] {
        using Call = void (*)();
        const auto read_env = reinterpret_cast<Call>(::dlsym(RTLD_DEFAULT, "openblas_read_env"));
        const auto shutdown = reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"));
        if (!read_env || !shutdown || std::getenv("OPENBLAS_THREAD_TIMEOUT")) return false;
        ::setenv("OPENBLAS_THREAD_TIMEOUT", "16", 0);
        read_env();
        shutdown(); // the next product starts the workers again, with the new timeout
        return true;
    }();
    (void)done;
}

// OpenBLAS picks its kernels by the CPU's family and model, and the one Debian 12 ships
// (0.3.21) takes CPUs newer than it for a Pentium 4 ("Prescott", SSE3): on an Intel Xeon
// of family 6 model 207 (AVX-512) its float32 product ran at 56 to 64 GFLOP/s on two
// cores, against about 300 with the AVX-512 kernels the same library holds. Where it
// chose Prescott for a CPU with AVX2 and FMA, or AVX-512, and the user set no
// OPENBLAS_CORETYPE, the kernels are chosen again by the instructions instead (as
// OpenBLAS itself does under that variable): SkylakeX's for AVX-512 (F, BW, DQ, VL),
// Haswell's for AVX2 (the CPU the AVX2 kernel level asks for). Done once, at the first
// call (the app and the benchmarks make it at start-up, before any product); where the
// functions are missing (another BLAS, or one built for a single CPU), nothing.
void choose_blas_kernels() {
    static const bool done = [] {
#if defined(__x86_64__)
        using Name = const char* (*)();
        using Call = void (*)();
        const auto corename = reinterpret_cast<Name>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
        const auto quit = reinterpret_cast<Call>(::dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
        const auto init = reinterpret_cast<Call>(::dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
        if (!corename || !quit || !init || std::getenv("OPENBLAS_CORETYPE")) return false;
        if (std::string_view(corename()) != "Prescott") return false;
        const kernels::Level cpu = kernels::cpu_level();
        if (cpu == kernels::Level::Portable) return false;
        // SkylakeX's kernels need more of AVX-512 than its foundation, which our level asks.
        const bool skylake_x = cpu == kernels::Level::Avx512 && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
        const char* wanted = skylake_x ? "SkylakeX" : "Haswell";
        ::setenv("OPENBLAS_CORETYPE", wanted, 0);
        quit(); // forgets the choice: the next call makes it again, reading the variable
        init();
        return true;
#else
        return false;
#endif
    }();
    (void)done;
}

} // namespace

int available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return 1;
}

ThreadSplit default_thread_split(int threads) {
    // Measured with `bench_hook_overhead --splits` on 2 cores (GPT-2 small shape, 256
    // positions): LibTorch 1 + OpenBLAS 2 ran the forward in 306 ms; 2 + 2 took 562 ms
    // (LibTorch's OpenMP workers spin and steal the cores OpenBLAS needs), 1 + 1 538 ms.
    // Matrix products dominate, so OpenBLAS gets the cores and LibTorch one thread.
    const int cores = threads > 0 ? threads : available_cores();
    return {1, cores};
}

void apply_thread_split(const ThreadSplit& split) {
    choose_blas_kernels();
    shorten_blas_spin();
    at::set_num_threads(std::max(1, split.torch_threads));
    if (auto set = blas_setter()) set(std::max(1, split.blas_threads));
    // The decode kernels stand in for BLAS on one-position products: same count.
    kernels::set_threads(split.blas_threads);
}

ThreadSplit current_thread_split() {
    const auto get = blas_getter();
    return {at::get_num_threads(), get ? get() : 1};
}

std::string blas_in_use() {
    choose_blas_kernels(); // as every product will run
    // The file that provides sgemm_, the float32 matrix product LibTorch calls.
    std::string file = "no BLAS library found";
    Dl_info info{};
    if (void* gemm = ::dlsym(RTLD_DEFAULT, "sgemm_"); gemm && ::dladdr(gemm, &info) && info.dli_fname) {
        std::error_code error; // the alternatives' symlink, resolved to the library behind it
        file = std::filesystem::weakly_canonical(info.dli_fname, error).string();
        if (error) file = info.dli_fname;
    }
    using GetConfig = const char* (*)();
    if (const auto config = reinterpret_cast<GetConfig>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
        return std::string(config()) + " (" + file + ")";
    }
    return file + " (not OpenBLAS: matrix products are many times slower; install libopenblas0-pthread)";
}

std::string libtorch_version() {
    std::string version = TORCH_VERSION;
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) && info.dli_fname) {
        version += std::string(" (") + info.dli_fname + ")";
    }
    return version;
}

} // namespace hookscope
