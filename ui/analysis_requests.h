#pragma once
// Between the run views' analysis pages and the worker: head scores, the logit lens,
// direct logit attribution and patching sweeps go to the runner with the interventions
// each must apply, and their results come back to the views. The lens and the
// attribution recompute a run with the interventions that run had, so they show the
// intervened run; a patching sweep applies those the Interventions panel applies now.

#include "ui/runner/model_runner.h"

#include <QObject>

#include <functional>

namespace hookscope::ui {

class RunViews;

class AnalysisRequests : public QObject {
    Q_OBJECT

public:
    // Where the interventions come from: the run in view, the pinned run, and the
    // Interventions panel (with the pinned run as `patch:@pinned`).
    struct Sources {
        std::function<AppliedInterventions()> current_run, pinned_run, panel;
    };

    AnalysisRequests(ModelRunner* runner, RunViews* views, Sources sources, QObject* parent = nullptr);

signals:
    // A request went to the worker: the status bar says `status` beside a busy bar.
    void working(const QString& status);
    // Something for the status bar alone.
    void note(const QString& status);
    // A result is in its view; `status` says which.
    void done(const QString& status);
    void lensShown();
    void attributionShown();
    void patchingShown();

private:
    ModelRunner* runner_ = nullptr;
    RunViews* views_ = nullptr;
    Sources sources_;
};

} // namespace hookscope::ui
