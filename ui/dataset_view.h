#pragma once
// An activation dataset opened from File > Open cache file… (its folder or its
// manifest.json): what its manifest says (model, names filter, prompts, tokens, cut
// prompts, hook points with their row shapes, shards with their ranks and prompts),
// read-only, and "Verify shards", which checks every shard's SHA-256 against the
// manifest off the GUI thread, as `hookscope inspect DIR --verify` does.

#include "ui/runner/dataset_job.h"

#include <QDialog>
#include <QFutureWatcher>

#include <string>
#include <vector>

class QLabel;
class QPushButton;
class QTreeWidget;

namespace hookscope::ui {

class DatasetDialog : public QDialog {
    Q_OBJECT

public:
    explicit DatasetDialog(DatasetSummary summary, QWidget* parent = nullptr);

    const DatasetSummary& summary() const { return summary_; }
    // The summary's fields by name ("model", "prompts", "tokens", …), as shown.
    QString field(const QString& name) const;
    QTreeWidget* hooks() const { return hooks_; }
    QTreeWidget* shards() const { return shards_; }
    QPushButton* verify_button() const { return verify_; }
    QLabel* verify_result() const { return result_; }

    // Checks every shard (off the GUI thread); verified follows.
    void verify();

signals:
    // Every shard matches (`ok`), or `message` lists those that do not.
    void verified(bool ok, const QString& message);

private:
    DatasetSummary summary_;
    QTreeWidget* hooks_ = nullptr;
    QTreeWidget* shards_ = nullptr;
    QPushButton* verify_ = nullptr;
    QLabel* result_ = nullptr;
    // Damaged shards in words, or why the check could not run.
    struct Check {
        std::vector<std::string> damaged;
        std::string error;
    };
    QFutureWatcher<Check> watcher_;
};

} // namespace hookscope::ui
