#pragma once
// The L2 norm of the residual stream through the layers: the mean over positions,
// plus one line per selected position; log scale on demand; hover shows the values.

#include "bridge/analysis/view_data.h"
#include "ui/plot_axes.h"

#include <QWidget>

#include <memory>
#include <optional>

class QCheckBox;
class QCustomPlot;
class QLabel;
class QListWidget;

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

class ResidualView : public QWidget {
    Q_OBJECT

public:
    explicit ResidualView(QWidget* parent = nullptr);

    void set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, int64_t layers);
    // A run whose mean norm is drawn beside this one's, dashed (null: none).
    void set_pinned(std::shared_ptr<const ActivationCache> pinned);
    void set_log_scale(bool on);
    // Positions drawn beside the mean.
    void select_positions(const std::vector<int64_t>& positions);

    const ResidualNorms& norms() const { return norms_; }
    QCustomPlot* plot() const { return plot_; }
    QListWidget* positions() const { return positions_; }

private:
    void refresh();
    // Axes around the lines drawn, with room for their end points.
    void rescale();
    // Stage labels as the axis's length allows: all of them side by side, turned, or
    // thinned. True when they changed (the plot is due a replot).
    bool fit_stage_labels();
    // As many legend entries on a row as the plot's width holds whole. True when that
    // changed.
    bool fit_legend();

    QCustomPlot* plot_ = nullptr;
    QCheckBox* log_ = nullptr;
    QListWidget* positions_ = nullptr;
    QLabel* message_ = nullptr;
    ResidualNorms norms_, pinned_norms_;
    std::shared_ptr<const ActivationCache> pinned_;
    int64_t layers_ = 0;
    QStringList labels_;
    QStringList stage_labels_;         // "0 pre" ... "3 post"
    std::optional<TickFit> stage_fit_; // as last drawn
};

} // namespace hookscope::ui
