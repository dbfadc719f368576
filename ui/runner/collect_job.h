#pragma once
// Collecting an activation dataset from the window (File > Collect activations…): the
// same dataset `hookscope collect` writes for the same options, so that either resumes
// the other's. Runs on ModelRunner's worker. Free of Qt: Qt's `slots` keyword must not
// precede LibTorch's headers where it is compiled.

#include "bridge/core/hook_point.h"
#include "bridge/text/prompt.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {
class Model;
}

namespace hookscope::ui {

// The options, as `hookscope collect` takes them.
struct CollectJob {
    std::string prompts_file;             // --prompts: .jsonl or text
    std::string folder;                   // --out
    std::string names_filter;             // --names-filter
    int64_t max_positions = 0;            // --max-positions; 0: the model's context
    uint64_t shard_bytes = 1'000'000'000; // --shard-size
    int batch_prompts = 8;                // --batch-prompts
    bool prepend_bos = true;              // unless --no-prepend-bos
};

// How far a collect is: prompts (kept ones included) and the tokens this run computes.
struct CollectStatus {
    int64_t prompts_done = 0, prompts = 0;
    int64_t tokens_done = 0, tokens = 0;
    double seconds = 0;  // since the collect began
    int kept_shards = 0; // finished by an earlier run, kept
};

// A finished dataset, as its manifest totals it.
struct CollectOutcome {
    std::string folder;
    int64_t prompts = 0, tokens = 0, cut_prompts = 0;
    std::size_t shards = 0, hooks = 0;
};

// Why `filter` cannot make a dataset of a model with hook points `hooks` (it does not
// parse, or selects attention matrices or nothing), in the bridge's words; "" when it can.
std::string collect_filter_problem(const std::vector<HookInfo>& hooks, const std::string& filter);

// Collects `job` with `model`, loaded from `model_folder` (recorded as the dataset's
// model, as `hookscope collect --model <that folder>` records it), text prompts encoded
// with `tokenizer` (null: the model has none). Returns nullopt when `cancelled` said so
// before a batch (finished shards stay; no manifest). Throws FilterError for a filter
// that selects attention matrices or nothing (before anything is written), InputError
// naming the file and line of a bad prompt, or the folder when it holds another
// dataset or cannot be written.
std::optional<CollectOutcome> run_collect(const Model& model, const std::string& model_folder,
                                          const Tokenizer* tokenizer, const SpecialTokens& special,
                                          const CollectJob& job,
                                          const std::function<void(const CollectStatus&)>& progress,
                                          const std::function<bool()>& cancelled);

} // namespace hookscope::ui
