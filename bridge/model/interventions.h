#pragma once
// Interventions as data, applied inside the forward at the hook points: the forward
// hands each selected hook point's value to apply() and goes on with what it returns,
// so one code path serves every architecture and every pass (run_with_cache, the
// prompt pass, each decode step, the recompute). A cache records the changed value.

#include "bridge/core/intervention_spec.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

// One intervention ready to run: its spec (a bare mean resolved), the hook it acts on,
// and the tensors its action needs.
struct Intervention {
    InterventionSpec spec;
    HookInfo hook;
    at::Tensor vector; // add: SCALE times the file's tensor, the hook's trailing shape (one head's with @HEAD)
    at::Tensor source; // patch: the source run's value at the hook, [1, S, ...] over positions 0..S-1
    std::filesystem::path file_path; // add, patch: the file read (absolute); empty for the pinned run
    std::string file_sha256;
};

// For patching sweeps: a different single patch for each element of a batch, so that
// one batched forward computes many patched runs. Element b takes the source's value
// at positions[b] (every position when -1), of head heads[b] only (every head when -1).
struct CellPatches {
    HookInfo hook;
    at::Tensor source; // [1, S, ...]: the source run's value at the hook
    std::vector<int64_t> positions;
    std::vector<int64_t> heads;
};

class Interventions {
public:
    Interventions() = default;
    explicit Interventions(std::vector<Intervention> items);

    bool empty() const { return items_.empty() && !cells_; }
    const std::vector<Intervention>& items() const { return items_; }
    // The resolved SPEC texts, in order.
    std::vector<std::string> texts() const;

    // `value` at `point` after every intervention on it, in the order given. The
    // value's position axis covers positions [end - n, end) with n its length (a
    // decode step computes only its new positions). `value` itself is never written:
    // a changed value is a new tensor. A mean is taken from the first forward that
    // computes its positions and held for the later forwards of the same run.
    // Throws InterventionError when a mean's positions were never computed.
    at::Tensor apply(HookPoint point, const at::Tensor& value, int64_t end);

    // Forgets the held means: the next forward starts a new run.
    void start_run();

    // Applies `cells` after the interventions at its hook, in the forwards that follow,
    // until set again or cleared.
    void set_cell_patches(CellPatches cells) { cells_ = std::move(cells); }
    void clear_cell_patches() { cells_.reset(); }
    const std::optional<CellPatches>& cell_patches() const { return cells_; }

private:
    at::Tensor apply_one(std::size_t index, const at::Tensor& value, int64_t end);
    at::Tensor apply_cells(const at::Tensor& value, int64_t end) const;

    std::vector<Intervention> items_;
    std::vector<at::Tensor> means_; // per item; undefined until taken
    std::optional<CellPatches> cells_;
};

} // namespace hookscope
