#include "ui/steering.h"

#include "ui/run_views.h"
#include "ui/steering_dialog.h"
#include "ui/unsteered_pane.h"

#include <QAction>
#include <QSettings>

namespace hookscope::ui {

namespace {

constexpr const char* kCompareKey = "steering/compare";

} // namespace

Steering::Steering(ModelRunner* runner, RunViews* views, QWidget* window)
    : QObject(window), runner_(runner), views_(views), window_(window) {
    compare_ = new QAction(tr("Also generate &without steering"), this);
    compare_->setObjectName("compareSteeringAction");
    compare_->setCheckable(true);
    compare_->setChecked(QSettings().value(kCompareKey, true).toBool());
    compare_->setToolTip(tr("When Generate adds a vector, show beside it what the same prompt and seed give "
                            "without the add: rows"));
    connect(compare_, &QAction::toggled, this, [](bool on) { QSettings().setValue(kCompareKey, on); });

    UnsteeredPane* pane = views_->unsteered_pane();
    connect(runner_, &ModelRunner::started, this, [this, pane] {
        pane->setVisible(comparing_);
        const auto& summary = runner_->summary();
        if (comparing_) pane->start(views_->model_labeler(), summary && summary->tokenizer);
    });
    connect(runner_, &ModelRunner::unsteeredTokenGenerated, pane,
            [pane](int, int64_t token, const QString& piece) { pane->append(token, piece); });
    connect(runner_, &ModelRunner::finished, this, [pane](int, const RunResult& r) {
        if (r.unsteered_tokens) pane->finish(*r.unsteered_tokens, r.prompt_length, r.unsteered_text);
    });
}

void Steering::prepare(GenerationRequest& request, bool generate) {
    comparing_ = generate && compare_->isChecked() && has_steering(request.interventions);
    request.compare_without_steering = comparing_;
}

SteeringDialog* Steering::open_dialog(const SteeringRuns& runs, const QString& hook) {
    auto* dialog = new SteeringDialog(runs, hook, window_);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &SteeringDialog::specMade, this, &Steering::specMade);
    dialog->open();
    return dialog;
}

} // namespace hookscope::ui
