#pragma once
// The one object that runs the model: loading, generation and the recompute pass all
// happen on its worker thread, one request at a time, and results come back as
// signals on the GUI thread. Every request has an id; a result from a request that is
// no longer current (superseded, or cancelled by a new load) is dropped, and a load
// that a later load superseded never replaces the model.

#include "bridge/analysis/analysis.h"
#include "bridge/analysis/head_scores.h"
#include "bridge/analysis/patching.h"
#include "bridge/analysis/run_analysis.h"
#include "bridge/analysis/view_data.h"
#include "bridge/core/hook_point.h"
#include "bridge/core/precision.h"
#include "bridge/model/generate.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"
#include "ui/runner/collect_job.h"

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookscope {

class ActivationCache;
class Model;

namespace ui {

// What the window shows about the loaded model.
struct ModelSummary {
    QString folder;
    QString architecture; // e.g. "GPT-NeoX"
    int64_t layers = 0, heads = 0, kv_heads = 0, d_model = 0, d_head = 0, d_vocab = 0, n_ctx = 0;
    int64_t parameters = 0;
    Precision precision = Precision::Float32;
    QString storage_dtypes;                     // e.g. "BF16"
    std::string fingerprint;                    // of the checkpoint (exports record it)
    std::vector<HookInfo> hooks;                // every hook point, in execution order
    std::shared_ptr<const Tokenizer> tokenizer; // null when the folder has none
    SpecialTokens special;
    std::vector<std::string> warnings; // Model::load_warnings(): loaded, but broken
};

// Interventions for a forward of the worker: SPEC texts (intervention_spec.h), in
// order, where their relative FILEs resolve, and the source of `patch:@pinned`.
struct AppliedInterventions {
    std::vector<std::string> specs;
    QString base;
    std::shared_ptr<const ActivationCache> pinned;
};

// Whether `specs` hold an `add:` SPEC (a steering vector), and `specs` without them.
bool has_steering(const std::vector<std::string>& specs);
std::vector<std::string> without_steering(const std::vector<std::string>& specs);

// One generation: the prompt as text or as token ids, and TransformerLens' settings.
struct GenerationRequest {
    QString text;                                  // used when token_ids is empty
    std::optional<std::vector<int64_t>> token_ids; // token-id mode: fed exactly as given
    bool prepend_bos = true;
    int64_t max_new_tokens = 10;
    bool greedy = false;
    double temperature = 1.0;
    std::optional<int64_t> top_k;
    std::optional<double> top_p;
    std::optional<uint64_t> seed;
    double repetition_penalty = 1.0, freq_penalty = 0.0;
    QString names_filter; // hook points the recompute captures ("" = every one)
    // Intervention SPECs (intervention_spec.h) applied to every forward of the run;
    // checked against the model before any work, so a bad one fails the request.
    std::vector<std::string> interventions;
    QString intervention_base;                     // relative FILE paths resolve against it
    std::shared_ptr<const ActivationCache> pinned; // the source of `patch:@pinned`
    // Generate also without the `add:` interventions (the others kept), with the same
    // seed, before the run itself: the text steering changed is then shown beside the
    // text it would have been (unsteeredTokenGenerated streams it). A request without an
    // `add:` SPEC generates once.
    bool compare_without_steering = false;
};

// A finished run: the tokens, why it stopped, and the cache of the recompute pass.
struct RunResult {
    std::vector<int64_t> tokens; // prompt then new tokens
    int64_t prompt_length = 0;
    QString stop_reason; // as generate --json names it; "run" for a forward over the prompt alone
    std::optional<uint64_t> seed;
    std::optional<double> tokens_per_second;
    std::vector<NewToken> generated; // each new token's log-probability and top 5
    double prompt_s = 0, decode_s = 0, recompute_s = 0;
    std::string settings_json; // the settings as exports record them
    std::shared_ptr<const ActivationCache> cache;
    // Where it came from, as exports and sessions record it.
    QString model;
    std::string fingerprint;
    Precision precision = Precision::Float32;
    std::vector<std::string> token_strings; // only for a run opened from a session
    // The interventions the run had: resolved SPEC texts, and as exports record them.
    std::vector<std::string> interventions;
    std::string interventions_json = "[]";
    // Where their relative FILEs resolved, and the run `patch:@pinned` read: with the
    // texts, what the logit lens and attribution recompute the run with.
    QString intervention_base;
    std::shared_ptr<const ActivationCache> intervention_pinned;
    // With compare_without_steering: the tokens generated without the `add:` SPECs
    // (prompt then new tokens), and their text ("" without a tokenizer).
    std::optional<std::vector<int64_t>> unsteered_tokens;
    QString unsteered_text;

    AppliedInterventions applied_interventions() const {
        return {interventions, intervention_base, intervention_pinned};
    }
};

// A patching sweep to run: clean = the pinned run's tokens, corrupted = this run's
// (the same length), the logit difference's tokens (nullopt: as patching_sweep
// chooses) and the sites to sweep.
struct PatchingJob {
    std::vector<int64_t> clean, corrupted;
    std::optional<int64_t> answer, wrong;
    std::vector<PatchSite> sites{std::begin(kPatchSites), std::end(kPatchSites)};
    // Applied to both runs of the sweep (and so to every patched run).
    AppliedInterventions interventions;
};

// One site's grid as the window draws it: [layers, positions], or [layers, heads] for
// head_out; the normalized metric (1: the patch restores the clean run, 0: it changes
// nothing), or the raw logit difference when the clean and corrupted runs tie.
struct PatchingGridData {
    PatchSite site = PatchSite::ResidPre;
    Matrix values;
    bool normalized = true;
};

struct PatchingOutcome {
    int64_t answer = 0, wrong = 0;
    double clean_logit_diff = 0, corrupted_logit_diff = 0;
    std::vector<PatchingGridData> grids;    // in the order of the job's sites
    std::vector<std::string> interventions; // the sweep's, resolved
};

class ModelRunner : public QObject {
    Q_OBJECT

public:
    explicit ModelRunner(QObject* parent = nullptr);
    // Cancels what runs and waits for the worker: safe to destroy at any time.
    ~ModelRunner() override;

    // Each returns the request's id. A load cancels any generation in progress.
    int load(const QString& folder, Precision precision = Precision::Float32);
    int generate(const GenerationRequest& request);
    // The prompt alone through the recompute forward (no generation).
    int run(const GenerationRequest& request);
    // Previous-token, duplicate-token and induction scores of every head (see
    // head_scores.h); headScoresReady follows.
    int compute_head_scores();
    // The logit lens over `tokens` (one forward that captures lens_hooks(), with
    // `interventions` applied), with `target` as every position's target, or the next
    // token where it is nullopt; lensReady follows.
    int compute_lens(const std::vector<int64_t>& tokens, int64_t top_k, std::optional<int64_t> target = std::nullopt,
                     const AppliedInterventions& interventions = {});
    // Direct logit attribution at `position` of `tokens` (see run_analysis.h), with
    // `interventions` applied; attributionReady follows.
    int compute_attribution(const std::vector<int64_t>& tokens, int64_t position, int64_t target,
                            std::optional<int64_t> contrast, const AppliedInterventions& interventions = {});
    // An activation patching sweep (patching.h); patchingProgress after each batched
    // forward, then patchingReady, or patchingCancelled after cancel().
    int compute_patching(const PatchingJob& job);
    // An activation dataset (collect_job.h) from the loaded model: collectProgress before
    // the first batch and after each, then collectFinished, or collectCancelled after
    // cancel() (the shards finished so far stay, for a rerun to keep).
    int collect(const CollectJob& job);
    // Stops the current generation after the token in progress; its tokens are kept
    // and its cache is still built.
    void cancel();

    bool busy() const { return busy_; }
    const std::optional<ModelSummary>& summary() const { return summary_; }

signals:
    void busyChanged(bool busy);
    void modelLoaded(int id, const hookscope::ui::ModelSummary& summary);
    // The prompt's ids, once encoded.
    void started(int id, const std::vector<int64_t>& prompt);
    void tokenGenerated(int id, int64_t token, int64_t step, double elapsed_s);
    // With compare_without_steering, before the run's own tokens: each token generated
    // without the `add:` SPECs, and the text it completes ("" without a tokenizer).
    void unsteeredTokenGenerated(int id, int64_t token, const QString& piece);
    void recomputeStarted(int id);
    void finished(int id, const hookscope::ui::RunResult& result);
    void headScoresReady(int id, const hookscope::HeadScores& scores);
    void lensReady(int id, const std::vector<int64_t>& tokens, const std::vector<hookscope::LensLayer>& layers);
    void attributionReady(int id, const hookscope::RunAttribution& attribution);
    void patchingProgress(int id, int64_t done, int64_t total);
    void patchingReady(int id, const hookscope::ui::PatchingOutcome& outcome);
    void patchingCancelled(int id);
    void collectProgress(int id, const hookscope::ui::CollectStatus& status);
    void collectFinished(int id, const hookscope::ui::CollectOutcome& outcome);
    void collectCancelled(int id);
    // What failed ("Loading /m", "Generating") and the bridge's message.
    void failed(int id, const QString& what, const QString& message);

private:
    int start_request();
    void post(std::function<void()> work); // runs `work` on the worker thread
    // Runs `on_gui_thread` on the GUI thread if request `id` is still the current one.
    void deliver(int id, std::function<void()> on_gui_thread);
    // A request that runs `work` on the loaded model on the worker and hands its result
    // to `done` on the GUI thread; a failure is reported as `what` failing.
    template <typename Result>
    int analyse(const QString& what, std::function<Result(const Model&)> work,
                std::function<void(int, const Result&)> done);
    void generate_on_worker(int id, const GenerationRequest& request, bool run_only,
                            const std::shared_ptr<std::atomic<bool>>& cancelled);
    void set_busy(bool busy);

    QThread thread_;
    QObject* worker_context_ = nullptr; // lives on thread_: posted work runs there
    int current_ = 0;                   // the latest request (GUI thread)
    std::atomic<int> latest_load_{0};   // the latest load: older ones must not commit
    bool busy_ = false;
    std::optional<ModelSummary> summary_;
    std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);

    // Touched only on the worker thread.
    std::shared_ptr<const Model> model_;
    std::string folder_; // the loaded model's, as the load was asked for it
    std::shared_ptr<const Tokenizer> tokenizer_;
    SpecialTokens special_;
};

} // namespace ui
} // namespace hookscope
