#include "ui/runner/collect_job.h"

#include "bridge/core/errors.h"
#include "bridge/core/names_filter.h"
#include "bridge/io/collect.h"
#include "bridge/io/dataset_check.h"
#include "bridge/io/dataset_tokens.h"
#include "bridge/model/model.h"

namespace hookscope::ui {

std::string collect_filter_problem(const std::vector<HookInfo>& hooks, const std::string& filter) {
    try {
        dataset_hooks_of(hooks, NamesFilter(filter));
        return {};
    } catch (const FilterError& e) {
        return e.what();
    }
}

std::optional<CollectOutcome> run_collect(const Model& model, const std::string& model_folder,
                                          const Tokenizer* tokenizer, const SpecialTokens& special,
                                          const CollectJob& job,
                                          const std::function<void(const CollectStatus&)>& progress,
                                          const std::function<bool()>& cancelled) {
    const int64_t context = model.config().n_ctx;
    const int64_t max_positions = job.max_positions > 0 ? job.max_positions : context;
    if (max_positions > context) {
        throw InputError("the maximum of " + std::to_string(max_positions) +
                         " positions passes the model's context of " + std::to_string(context) + " positions");
    }
    if (job.shard_bytes == 0) throw InputError("the shard size must be above zero");
    // The filter first: a refused one writes nothing.
    const NamesFilter filter(job.names_filter);
    std::vector<std::string> hooks = dataset_hooks(model, filter);
    DatasetPromptTokens prompts = dataset_prompt_tokens(job.prompts_file, tokenizer, special, job.prepend_bos,
                                                        model.config().d_vocab, max_positions);
    // The identity `hookscope collect` records for the same options.
    const CollectSettings settings{.folder = job.folder,
                                   .model = model_folder,
                                   .prompts_file = job.prompts_file,
                                   .max_positions = max_positions,
                                   .shard_bytes = job.shard_bytes,
                                   .batch_prompts = job.batch_prompts,
                                   .prepend_bos = job.prepend_bos,
                                   .precision = model.precision()};
    const std::size_t hook_count = hooks.size();
    CollectRequest request = collect_request(model, settings, filter, std::move(hooks), std::move(prompts));

    CollectCallbacks callbacks;
    callbacks.cancelled = cancelled;
    callbacks.progress = [&progress](const CollectProgress& p) {
        if (progress) progress({p.prompts_done, p.prompts, p.tokens_done, p.tokens, p.seconds, p.kept_shards});
    };
    const std::optional<DatasetManifest> manifest = collect_dataset(model, std::move(request), callbacks);
    if (!manifest) return std::nullopt;
    return CollectOutcome{
        job.folder, manifest->prompts, manifest->tokens, manifest->cut_prompts, manifest->shards.size(), hook_count};
}

} // namespace hookscope::ui
