#include "bridge/threads.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <dlfcn.h>
#include <sched.h>

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

} // namespace

int available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return 1;
}

ThreadSplit default_thread_split(int threads) {
    const int cores = threads > 0 ? threads : available_cores();
    return {cores, cores};
}

void apply_thread_split(const ThreadSplit& split) {
    at::set_num_threads(std::max(1, split.torch_threads));
    if (auto set = blas_setter()) set(std::max(1, split.blas_threads));
}

ThreadSplit current_thread_split() {
    const auto get = blas_getter();
    return {at::get_num_threads(), get ? get() : 1};
}

} // namespace hookscope
