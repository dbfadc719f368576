#include "ui/steering.h"

#include "ui/run_views.h"
#include "ui/steering_dialog.h"

namespace hookscope::ui {

Steering::Steering(ModelRunner* runner, RunViews* views, QWidget* window)
    : QObject(window), runner_(runner), views_(views), window_(window) {}

SteeringDialog* Steering::open_dialog(const SteeringRuns& runs, const QString& hook) {
    auto* dialog = new SteeringDialog(runs, hook, window_);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &SteeringDialog::specMade, this, &Steering::specMade);
    dialog->open();
    return dialog;
}

} // namespace hookscope::ui
