#pragma once
// Make steering vector (Run menu, and the hook tree's menu on a hook): a vector read
// from the run in view at one hook point and position (one head's, for a hook with a
// head axis), as the pinned run minus this run or from this run alone, written to a
// one-tensor safetensors file and added to the Interventions panel as
// `HOOK[@HEAD][:POSITIONS]=add:FILE#steering*SCALE`. A problem (a file that cannot be
// written, a hook the pinned run lacks, runs of different lengths) shows in the dialog,
// which stays open, and no file is left behind.

#include "bridge/core/hook_point.h"

#include <QDialog>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QRadioButton;
class QSpinBox;

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

class ScaleEditor;

// What the dialog reads from: the model's hook points, the run in view and the pinned run.
struct SteeringRuns {
    std::vector<HookInfo> hooks;
    std::shared_ptr<const ActivationCache> run;
    int64_t prompt_length = 0; // of the run in view; its last position is the default
    std::shared_ptr<const ActivationCache> pinned;
};

// The hooks of `hooks` that `cache` holds with a per-position shape [1, P, ...]
// (attention matrices, whose rows are queries of one head, are left out).
std::vector<HookInfo> steerable_hooks(const std::vector<HookInfo>& hooks, const ActivationCache& cache);

// A file name for a vector: "blocks.3.hook_resid_pre.pos5", "blocks.0.attn.hook_z.head1.pos5".
QString steering_file_stem(const QString& hook, std::optional<int64_t> head, int64_t position);

// The folder steering vectors go to by default (the application's data folder).
QString steering_folder();

class SteeringDialog : public QDialog {
    Q_OBJECT

public:
    // `hook`: preselected when it is one of steerable_hooks().
    SteeringDialog(SteeringRuns runs, const QString& hook, QWidget* parent = nullptr);

    // Writes the vector and returns the SPEC that adds it, or nullopt with the problem
    // shown under the controls.
    std::optional<QString> make();

    QComboBox* hook() const { return hook_; }
    QComboBox* head() const { return head_; }
    QSpinBox* position() const { return position_; }
    QRadioButton* from_pinned() const { return from_pinned_; }
    QRadioButton* this_run() const { return this_run_; }
    QLineEdit* path() const { return path_; }
    ScaleEditor* scale() const { return scale_; }
    QLineEdit* positions() const { return positions_; }
    QLabel* error() const { return error_; }

signals:
    // The vector is written; `spec` adds it.
    void specMade(const QString& spec);

public slots:
    void accept() override;

private:
    const HookInfo* chosen_hook() const;
    std::optional<int64_t> chosen_head() const;
    // The head chooser and the sources follow the hook and the position; the default
    // file name follows them until the user edits it.
    void update_choices();
    void show_error(const QString& message);

    SteeringRuns runs_;
    std::vector<HookInfo> hooks_; // steerable_hooks(), in the hook chooser's order
    QComboBox* hook_ = nullptr;
    QComboBox* head_ = nullptr;
    QSpinBox* position_ = nullptr;
    QRadioButton* from_pinned_ = nullptr;
    QRadioButton* this_run_ = nullptr;
    QLineEdit* path_ = nullptr;
    ScaleEditor* scale_ = nullptr;
    QLineEdit* positions_ = nullptr;
    QLabel* error_ = nullptr;
    bool path_edited_ = false;
};

} // namespace hookscope::ui
