#pragma once
// The Attribution view: one position's logit for a target token (minus a contrast
// token's) split into what each part of the residual stream adds (analysis.h): a
// layer × head heatmap with each layer's MLP as its last column, and the embeddings,
// output biases and the final norm's constant below (and, for a run with
// interventions, what they put into the residual stream). Clicking a head opens it.

#include "bridge/analysis/analysis.h"

#include <QWidget>

#include <functional>
#include <optional>

class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace hookscope::ui {

class HeatmapPlot;

class AttributionView : public QWidget {
    Q_OBJECT

public:
    explicit AttributionView(QWidget* parent = nullptr);

    // A run of `positions` tokens is in the views: the position box's range.
    void set_positions(int64_t positions);
    // `interventions`: what the run's interventions put into the residual stream
    // directly (RunAttribution), shown as a part of its own.
    void set_attribution(const Attribution& a, std::function<QString(int64_t)> labeler,
                         std::optional<double> interventions = std::nullopt);
    void clear();
    bool has_attribution() const { return attribution_.has_value(); }
    const std::optional<Attribution>& attribution() const { return attribution_; }
    const std::optional<double>& interventions_part() const { return interventions_part_; }
    // An error under the controls (a target that is not one token); empty hides it.
    void show_error(const QString& message);
    // The position, target and contrast boxes' values ("" when a box is empty).
    int64_t chosen_position() const;
    QString target_text() const;
    QString contrast_text() const;
    void set_busy(bool busy);

    QSpinBox* position() const { return position_; }
    QLineEdit* target() const { return target_; }
    QLineEdit* contrast() const { return contrast_; }
    QPushButton* compute_button() const { return compute_; }
    HeatmapPlot* heatmap() const { return heatmap_; }
    QLabel* summary() const { return summary_; }

signals:
    void computeRequested();
    void headChosen(int64_t layer, int64_t head);

private:
    QSpinBox* position_ = nullptr;
    QLineEdit* target_ = nullptr;
    QLineEdit* contrast_ = nullptr;
    QPushButton* compute_ = nullptr;
    QLabel* error_ = nullptr;
    QLabel* summary_ = nullptr;
    HeatmapPlot* heatmap_ = nullptr;
    std::optional<Attribution> attribution_;
    std::optional<double> interventions_part_;
};

} // namespace hookscope::ui
