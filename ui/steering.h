#pragma once
// The window's steering: vectors made from its runs (SteeringDialog).

#include "ui/runner/model_runner.h"

#include <QObject>

class QWidget;

namespace hookscope::ui {

class RunViews;
class SteeringDialog;
struct SteeringRuns;

class Steering : public QObject {
    Q_OBJECT

public:
    Steering(ModelRunner* runner, RunViews* views, QWidget* window);

    // Opens the dialog (window-modal) on `runs` with `hook` chosen; specMade follows OK.
    SteeringDialog* open_dialog(const SteeringRuns& runs, const QString& hook);

signals:
    // A vector was written: the SPEC that adds it.
    void specMade(const QString& spec);

private:
    ModelRunner* runner_ = nullptr;
    RunViews* views_ = nullptr;
    QWidget* window_ = nullptr;
};

} // namespace hookscope::ui
