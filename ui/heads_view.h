#pragma once
// The Heads view: a layer x head heatmap of one head score (previous-token,
// duplicate-token or induction; see bridge/head_scores.h). Clicking a cell asks for
// that head in the attention view.

#include "bridge/analysis/head_scores.h"

#include <QWidget>

#include <optional>

class QComboBox;
class QLabel;
class QPushButton;

namespace hookscope::ui {

class HeatmapPlot;

class HeadsView : public QWidget {
    Q_OBJECT

public:
    enum Score { PreviousToken, DuplicateToken, Induction };

    explicit HeadsView(QWidget* parent = nullptr);

    void set_scores(const HeadScores& scores);
    void clear_scores();
    void set_busy(bool busy);
    void set_score(Score score);
    bool has_scores() const { return scores_.has_value(); }

    HeatmapPlot* heatmap() const { return heatmap_; }
    QPushButton* compute_button() const { return compute_; }

signals:
    void computeRequested();
    void headChosen(int64_t layer, int64_t head);

private:
    void refresh();

    QComboBox* score_ = nullptr;
    QPushButton* compute_ = nullptr;
    QLabel* note_ = nullptr;
    HeatmapPlot* heatmap_ = nullptr;
    std::optional<HeadScores> scores_;
};

} // namespace hookscope::ui
