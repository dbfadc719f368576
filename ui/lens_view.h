#pragma once
// The Logit lens view: layers (each block's residual stream, then the last block's
// output) down, positions across. Each cell names the token that layer predicts
// there, coloured by its probability, or by the probability or rank of the token that
// actually came next; hovering shows the top 5.

#include "bridge/analysis/analysis.h"
#include "ui/run_compare.h"

#include <QWidget>

#include <functional>
#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace hookscope::ui {

class HeatmapPlot;

class LensView : public QWidget {
    Q_OBJECT

public:
    enum Mode { TopProbability, TargetProbability, TargetRank };

    explicit LensView(QWidget* parent = nullptr);

    // The lens of a run over `tokens` whose targets are the next tokens, or `target` at
    // every position; `labeler` names a token.
    void set_lens(std::vector<int64_t> tokens, std::vector<LensLayer> layers, std::function<QString(int64_t)> labeler,
                  std::optional<int64_t> target = std::nullopt);
    void clear();
    bool has_lens() const { return !layers_.empty(); }
    // The target box's text ("" for the next token at each position).
    QString target_text() const;
    // Whether the lens should read the pinned run instead of this one.
    bool shows_pinned() const;
    // Offers the choice of the pinned run (or takes it away, back to this run).
    void set_pinned_available(bool available);
    // A message in the note under the controls (why the lens cannot run).
    void show_note(const QString& text);
    void set_busy(bool busy);
    void set_mode(Mode mode);

    HeatmapPlot* heatmap() const { return heatmap_; }
    QPushButton* compute_button() const { return compute_; }
    QLabel* note() const { return note_; }
    // This run or the pinned run (shown while a run is pinned); a change asks for the
    // lens again.
    CompareBox* compare() const { return compare_; }
    // The token whose probability or rank the target modes show: empty for the token
    // that came next at each position.
    QLineEdit* target() const { return target_; }

signals:
    void computeRequested();

private:
    void refresh();
    QString describe(int64_t row, int64_t col) const;

    QComboBox* mode_ = nullptr;
    CompareBox* compare_ = nullptr;
    QLineEdit* target_ = nullptr;
    std::optional<int64_t> shown_target_;
    QPushButton* compute_ = nullptr;
    QLabel* note_ = nullptr;
    HeatmapPlot* heatmap_ = nullptr;
    std::vector<int64_t> tokens_;
    std::vector<LensLayer> layers_;
    std::function<QString(int64_t)> labeler_;
};

// A lens row's short name: "resid_pre 3", "resid_post 11".
QString lens_row_label(const std::string& hook);

} // namespace hookscope::ui
