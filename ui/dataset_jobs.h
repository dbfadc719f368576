#pragma once
// The window's activation datasets: File > Collect activations… (CollectDialog, then the
// collect on ModelRunner's worker with a progress bar, its rate, the time left and a
// Cancel button), and a dataset opened from File > Open cache file… (DatasetDialog).
// Results and errors come back as signals for the window's status bar and dialogs.

#include "ui/runner/collect_job.h"
#include "ui/runner/model_runner.h"

#include <QObject>
#include <QString>

class QLabel;
class QProgressBar;
class QPushButton;
class QWidget;

namespace hookscope::ui {

class CollectDialog;
class DatasetDialog;

class DatasetJobs : public QObject {
    Q_OBJECT

public:
    // `window`: the dialogs' parent.
    DatasetJobs(ModelRunner* runner, QWidget* window);

    // The progress bar, its text and Cancel, for the status bar; hidden unless a
    // collect runs.
    QWidget* progress_widget() const { return progress_box_; }
    QProgressBar* progress_bar() const { return bar_; }
    QLabel* progress_text() const { return text_; }
    QPushButton* cancel_button() const { return cancel_; }

    // Opens the collect dialog for the loaded model, its names filter set to `filter`;
    // accepting it starts the collect. Null, with failed emitted, without a model or
    // while the model is busy.
    CollectDialog* open_collect_dialog(const QString& filter);
    // Starts collecting `job` with the loaded model.
    void collect(const CollectJob& job);
    // Stops the collect before its next batch (its finished shards stay).
    void cancel();
    bool collecting() const { return request_ != 0; }

    // Opens the dataset at `path` (its folder or manifest.json) in a DatasetDialog;
    // null, with failed emitted, when it cannot be read.
    DatasetDialog* open_dataset(const QString& path);

signals:
    void status(const QString& text);
    void failed(const QString& what, const QString& message);
    void collectFinished(const hookscope::ui::CollectOutcome& outcome);
    void collectCancelled();
    void datasetOpened(hookscope::ui::DatasetDialog* dialog);

private:
    void show_progress(const CollectStatus& s);
    void stop_progress();

    ModelRunner* runner_;
    QWidget* window_;
    int request_ = 0; // the collect in progress, 0 when none
    QString folder_;  // its folder
    QWidget* progress_box_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* text_ = nullptr;
    QPushButton* cancel_ = nullptr;
};

} // namespace hookscope::ui
