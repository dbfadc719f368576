#pragma once
// The Patching page: activation patching from the pinned run (clean) into the run in
// view (corrupted), measured by the logit difference answer - wrong at the last
// position. The sweep runs on the worker (patchingRequested) with a progress bar and
// Cancel; each site's grid is a layer x position (head_out: layer x head) heatmap of
// the normalized metric on a colour scale diverging around 0. Clicking a cell adds
// that patch to the Interventions panel (interventionRequested).

#include "ui/runner/model_runner.h"

#include <QWidget>

#include <map>
#include <optional>
#include <vector>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace hookscope::ui {

class HeatmapPlot;

// The SPEC that patches one cell of `site`'s grid from the pinned run.
QString patching_cell_spec(PatchSite site, int64_t layer, int64_t cell);

class PatchingView : public QWidget {
    Q_OBJECT

public:
    explicit PatchingView(QWidget* parent = nullptr);

    // The clean (pinned) and corrupted (in view) runs' tokens; nullopt when missing.
    void set_runs(std::optional<std::vector<int64_t>> clean, std::optional<std::vector<int64_t>> corrupted);
    // For answer and wrong typed as one-token texts (null: ids only).
    void set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer, int64_t vocabulary);
    void set_busy(bool busy);
    void show_progress(int64_t done, int64_t total);
    void show_outcome(const PatchingOutcome& outcome);
    void show_cancelled();

    // The sweep the page describes, or nullopt with the reason shown.
    std::optional<PatchingJob> job();

    QPushButton* run_button() const { return run_; }
    QPushButton* cancel_button() const { return cancel_; }
    QLineEdit* answer_edit() const { return answer_; }
    QLineEdit* wrong_edit() const { return wrong_; }
    QCheckBox* site_box(PatchSite site) const { return sites_.at(site); }
    HeatmapPlot* heatmap(PatchSite site) const { return plots_.at(site); }
    QLabel* message() const { return message_; }
    QProgressBar* progress() const { return progress_; }

signals:
    void patchingRequested(const hookscope::ui::PatchingJob& job);
    void cancelRequested();
    void interventionRequested(const QString& spec);

private:
    void update_state();

    QLineEdit* answer_ = nullptr;
    QLineEdit* wrong_ = nullptr;
    std::map<PatchSite, QCheckBox*> sites_;
    std::map<PatchSite, HeatmapPlot*> plots_;
    QPushButton* run_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* message_ = nullptr;
    std::optional<std::vector<int64_t>> clean_, corrupted_;
    std::shared_ptr<const Tokenizer> tokenizer_;
    int64_t vocabulary_ = 0;
    bool busy_ = false;
    bool showing_why_ = false; // the message says why the sweep cannot run
};

} // namespace hookscope::ui
