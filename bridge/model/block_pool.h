#pragma once
// LibTorch's CPU allocator, keeping the memory of large tensors for reuse.
//
// A forward over hundreds of positions allocates blocks of megabytes (attention scores,
// MLP activations, logits), and a cache keeps them all. Fresh memory from the system
// is faulted in and zeroed page by page as it is first written: measured at about
// 3 GB/s on a virtual machine, so a 770 MB cache cost ~250 ms of a 550 ms pass before
// a single product ran. Blocks freed by one pass are kept here, mapped and resident,
// and serve the next pass's blocks of a similar size without a fault.
//
// Blocks under kSmallestPooled bytes go to LibTorch's own allocator unchanged. Freed
// blocks are kept up to a cap (an eighth of physical memory, at most 4 GiB), counted
// as available memory by available_memory_bytes(), and given back to the system by
// release_pooled_memory() (a new model's weights need the room).

#include <cstddef>

namespace hookscope::block_pool {

// Blocks this large and larger are pooled.
constexpr std::size_t kSmallestPooled = std::size_t{1} << 20;

// Installs the pool as LibTorch's CPU allocator, once per process; later calls do
// nothing. Every Model does this as it is made.
void install();

// Whether install() has run.
bool installed();

// Bytes of freed blocks held for reuse.
std::size_t free_bytes();

// At most this many freed bytes are held; a block freed past it goes back at once.
std::size_t retained_cap();

// Gives every held block back to the system.
void release_pooled_memory();

// Fills every held block with 0xFF bytes (NaN as float32 and bfloat16), so that a test
// shows that nothing reads a reused block before writing it.
void poison_free_blocks();

} // namespace hookscope::block_pool
