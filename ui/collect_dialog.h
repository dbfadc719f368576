#pragma once
// File > Collect activations…: the options of `hookscope collect` for the loaded model
// (prompts file, output folder, names filter, maximum positions, shard size, prompts
// per batch, BOS), checked before the job starts: a filter that selects attention
// matrices or nothing is refused in the bridge's words and nothing is written. The
// choices are remembered (QSettings) for the next time; the filter comes from the hook
// panel.

#include "bridge/core/hook_point.h"
#include "ui/runner/collect_job.h"

#include <QDialog>

#include <cstdint>
#include <optional>
#include <vector>

class QCheckBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace hookscope::ui {

class CollectDialog : public QDialog {
    Q_OBJECT

public:
    // `hooks`: the loaded model's hook points; `context`: its positions (the most, and
    // the default, of the maximum positions); `filter`: the names filter to start from.
    CollectDialog(std::vector<HookInfo> hooks, int64_t context, const QString& filter, QWidget* parent = nullptr);

    // The job the controls describe, or nullopt with the problem shown under them.
    std::optional<CollectJob> job();

    QLineEdit* prompts() const { return prompts_; }
    QLineEdit* folder() const { return folder_; }
    QLineEdit* filter() const { return filter_; }
    QSpinBox* max_positions() const { return max_positions_; }
    QLineEdit* shard_size() const { return shard_size_; }
    QSpinBox* batch_prompts() const { return batch_prompts_; }
    QCheckBox* prepend_bos() const { return prepend_bos_; }
    QLabel* error() const { return error_; }

signals:
    // The options were accepted (and remembered).
    void collectRequested(const hookscope::ui::CollectJob& job);

public slots:
    void accept() override;

private:
    void show_error(const QString& message);
    void remember() const;

    std::vector<HookInfo> hooks_;
    int64_t context_ = 0;
    QLineEdit* prompts_ = nullptr;
    QLineEdit* folder_ = nullptr;
    QLineEdit* filter_ = nullptr;
    QSpinBox* max_positions_ = nullptr;
    QLineEdit* shard_size_ = nullptr;
    QSpinBox* batch_prompts_ = nullptr;
    QCheckBox* prepend_bos_ = nullptr;
    QLabel* error_ = nullptr;
};

} // namespace hookscope::ui
