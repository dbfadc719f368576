#pragma once
// Thread counts for LibTorch's own parallel loops and for OpenBLAS, which runs
// threads of its own for matrix products. Both are set deliberately: LibTorch
// may start with 1 thread on VMs, and oversubscribing the cores slows decoding.

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

} // namespace hookscope
