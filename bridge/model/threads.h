#pragma once
// Thread counts for LibTorch's own parallel loops and for OpenBLAS, which runs
// threads of its own for matrix products. Both are set deliberately: LibTorch
// may start with 1 thread on VMs, and oversubscribing the cores slows decoding.

#include <string>

namespace hookscope {

struct ThreadSplit {
    int torch_threads = 1; // at::set_num_threads (element-wise ops, softmax, ...)
    int blas_threads = 1;  // openblas_set_num_threads (matmuls)
};

// Cores this process may run on (its CPU affinity).
int available_cores();

// The split HookScope uses unless told otherwise (see threads.cpp for the measurement
// behind it): OpenBLAS gets `threads` (> 0, the --threads option) or every available
// core, LibTorch one thread.
ThreadSplit default_thread_split(int threads = 0);

void apply_thread_split(const ThreadSplit& split);
ThreadSplit current_thread_split();

// The BLAS library that matrix products go through, for --version and bug reports:
// OpenBLAS's own build description and its file, or the file of another BLAS with a
// note that it is slow (Debian's reference BLAS is the fallback without OpenBLAS).
std::string blas_in_use();

// The LibTorch version of the headers this program was built with and the library
// file it runs on, e.g. "1.13.0 (/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13)".
std::string libtorch_version();

} // namespace hookscope
