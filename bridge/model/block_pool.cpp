#include "bridge/model/block_pool.h"

#include "bridge/core/system_memory.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include <sys/mman.h>
#include <unistd.h>

namespace hookscope::block_pool {
namespace {

constexpr std::size_t kPage = 4096;

std::size_t physical_memory() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : 0;
}

class BlockPool final : public c10::Allocator {
public:
    explicit BlockPool(c10::Allocator* small)
        : small_(small), cap_(std::min(std::size_t{4} << 30, physical_memory() / 8)) {}

    // Every block, small or pooled, carries the same deleter: LibTorch frees some
    // blocks through raw_deleter() alone.
    c10::DataPtr allocate(std::size_t n) const override {
        void* block = nullptr;
        if (n < kSmallestPooled) {
            block = small_->raw_allocate(n);
        } else {
            const std::size_t length = (n + kPage - 1) / kPage * kPage;
            block = take(length);
            if (!block) block = map(length);
        }
        return {block, block, &give_back, c10::Device(c10::DeviceType::CPU)};
    }

    c10::DeleterFnPtr raw_deleter() const override { return &give_back; }

    std::size_t free_bytes() const {
        const std::lock_guard lock(mutex_);
        return free_bytes_;
    }
    std::size_t cap() const { return cap_; }

    void release() const {
        std::multimap<std::size_t, void*> blocks;
        {
            const std::lock_guard lock(mutex_);
            blocks.swap(free_);
            free_bytes_ = 0;
        }
        for (const auto& [length, block] : blocks)
            ::munmap(block, length);
    }

    void poison() const {
        const std::lock_guard lock(mutex_);
        for (const auto& [length, block] : free_)
            std::memset(block, 0xFF, length);
    }

    static BlockPool* instance;

private:
    // The smallest held block of at least `length` bytes, unless it is a quarter
    // larger: a larger block keeps its extra pages resident for nothing.
    void* take(std::size_t length) const {
        const std::lock_guard lock(mutex_);
        const auto it = free_.lower_bound(length);
        if (it == free_.end() || it->first > length + length / 4) return nullptr;
        void* block = it->second;
        live_.emplace(block, it->first);
        free_bytes_ -= it->first;
        free_.erase(it);
        return block;
    }

    void* map(std::size_t length) const {
        void* block = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (block == MAP_FAILED) {
            release(); // held blocks may be what stands in the way
            block = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        }
        TORCH_CHECK(block != MAP_FAILED, "not enough memory: could not map ", length, " bytes for a tensor");
        const std::lock_guard lock(mutex_);
        live_.emplace(block, length);
        return block;
    }

    static void give_back(void* block) {
        if (block) instance->put(block);
    }

    void put(void* block) const {
        std::size_t length = 0;
        {
            const std::lock_guard lock(mutex_);
            const auto it = live_.find(block);
            if (it != live_.end()) {
                length = it->second;
                live_.erase(it);
                if (free_bytes_ + length <= cap_) {
                    free_.emplace(length, block);
                    free_bytes_ += length;
                    return;
                }
            }
        }
        if (length == 0) {
            small_->raw_deallocate(block); // not a pooled block: LibTorch's own
        } else {
            ::munmap(block, length); // past the cap
        }
    }

    c10::Allocator* small_;
    const std::size_t cap_;
    mutable std::mutex mutex_;
    mutable std::multimap<std::size_t, void*> free_;      // length -> block
    mutable std::unordered_map<void*, std::size_t> live_; // block -> length
    mutable std::size_t free_bytes_ = 0;
};

BlockPool* BlockPool::instance = nullptr;

std::size_t held_for_reuse() {
    return BlockPool::instance ? BlockPool::instance->free_bytes() : 0;
}

} // namespace

void install() {
    static const bool done = [] {
        // Never destroyed: tensors freed during static destruction still come back here.
        BlockPool::instance = new BlockPool(c10::GetDefaultCPUAllocator());
        c10::SetCPUAllocator(BlockPool::instance, /*priority=*/1);
        set_memory_held_for_reuse(&held_for_reuse);
        return true;
    }();
    (void)done;
}

bool installed() {
    return BlockPool::instance != nullptr;
}

std::size_t free_bytes() {
    return held_for_reuse();
}

std::size_t retained_cap() {
    return BlockPool::instance ? BlockPool::instance->cap() : 0;
}

void release_pooled_memory() {
    if (BlockPool::instance) BlockPool::instance->release();
}

void poison_free_blocks() {
    if (BlockPool::instance) BlockPool::instance->poison();
}

} // namespace hookscope::block_pool
