#include "ui/analysis_requests.h"

#include "ui/patching_view.h"
#include "ui/run_views.h"

namespace hookscope::ui {

AnalysisRequests::AnalysisRequests(ModelRunner* runner, RunViews* views, Sources sources, QObject* parent)
    : QObject(parent), runner_(runner), views_(views), sources_(std::move(sources)) {
    connect(views_, &RunViews::headScoresRequested, this, [this] {
        runner_->compute_head_scores();
        emit working(tr("Scoring every head on repeated random sequences…"));
    });
    connect(views_, &RunViews::lensRequested, this,
            [this](const std::vector<int64_t>& tokens, std::optional<int64_t> target, bool of_pinned) {
                runner_->compute_lens(tokens, 5, target, of_pinned ? sources_.pinned_run() : sources_.current_run());
                emit working(tr("Reading every layer's residual stream through the unembedding…"));
            });
    connect(
        views_, &RunViews::attributionRequested, this,
        [this](const std::vector<int64_t>& tokens, int64_t position, int64_t target, std::optional<int64_t> contrast) {
            runner_->compute_attribution(tokens, position, target, contrast, sources_.current_run());
            emit working(tr("Attributing the logit at position %1…").arg(position));
        });
    connect(views_, &RunViews::patchingRequested, this, [this](PatchingJob job) {
        job.interventions = sources_.panel();
        runner_->compute_patching(job);
        const std::size_t n = job.interventions.specs.size();
        emit note(n == 0 ? tr("Patching the pinned run into this one…")
                         : tr("Patching the pinned run into this one, both with %1 interventions…").arg(n));
    });
    connect(views_, &RunViews::patchingCancelRequested, runner_, &ModelRunner::cancel);

    connect(runner_, &ModelRunner::headScoresReady, this, [this](int, const HeadScores& scores) {
        views_->show_head_scores(scores);
        emit done(tr("Head scores ready"));
    });
    connect(runner_, &ModelRunner::lensReady, this,
            [this](int, const std::vector<int64_t>& tokens, const std::vector<LensLayer>& layers) {
                views_->show_lens(tokens, layers);
                emit done(tr("Logit lens over %1 positions").arg(tokens.size()));
                emit lensShown();
            });
    connect(runner_, &ModelRunner::attributionReady, this, [this](int, const RunAttribution& a) {
        views_->show_attribution(a);
        emit done(tr("Logit attributed at position %1").arg(a.attribution.position));
        emit attributionShown();
    });
    connect(runner_, &ModelRunner::patchingProgress, this,
            [this](int, int64_t done, int64_t total) { views_->patching_view()->show_progress(done, total); });
    connect(runner_, &ModelRunner::patchingReady, this, [this](int, const PatchingOutcome& outcome) {
        views_->show_patching_outcome(outcome);
        emit done(tr("Patching sweep done"));
        emit patchingShown();
    });
    connect(runner_, &ModelRunner::patchingCancelled, this, [this] {
        views_->patching_view()->show_cancelled();
        emit done(tr("Patching sweep cancelled"));
    });
}

} // namespace hookscope::ui
