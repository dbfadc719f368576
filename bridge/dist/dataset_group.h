#pragma once
// One activation dataset computed by the ranks of a ProcessGroup (bridge/io/collect.h):
// rank r takes batches r, r + W, …, and the shard lists reach rank 0 over gloo once
// every rank has finished its batches.

#include "bridge/dist/process_group.h"
#include "bridge/io/collect.h"

namespace hookscope {

class DistributedDataset final : public DatasetGroup {
public:
    explicit DistributedDataset(ProcessGroup& group) : group_(group) {}

    int rank() const override { return group_.rank(); }
    int world_size() const override { return group_.world_size(); }

    std::vector<std::string> gather_to_first(const std::string& text) override {
        // Ranks finish at different times: the gather starts once all have (a slow
        // rank is waited for while it is alive), so its own timeout covers the
        // transfer alone.
        group_.wait_for_all("collect/finished");
        return group_.gather_to_first(text);
    }

private:
    ProcessGroup& group_;
};

} // namespace hookscope
