#include "ui/heads_view.h"

#include "ui/heatmap_plot.h"

#include <QComboBox>
#include <QLabel>
#include <QPushButton>

namespace hookscope::ui {

HeadsView::HeadsView(QWidget* parent) : QWidget(parent) {
    score_ = new QComboBox(this);
    score_->setObjectName("headScore");
    score_->addItem(tr("Induction"), Induction);
    score_->addItem(tr("Previous token"), PreviousToken);
    score_->addItem(tr("Duplicate token"), DuplicateToken);
    compute_ = new QPushButton(tr("Compute head scores"), this);
    compute_->setObjectName("computeHeadScores");
    compute_->setToolTip(tr("Runs the model on 8 sequences of 50 random tokens repeated, and scores each head"));
    note_ = new QLabel(tr("Scores show which heads attend to the previous token, to an earlier copy of the "
                          "current token, or to the token after it (induction). Click a head to open it."),
                       this);
    heatmap_ = new HeatmapPlot(this);
    heatmap_->setObjectName("headsHeatmap");
    heatmap_->set_axis_titles(tr("layer"), tr("head"));
    lay_out_heatmap_view(this, score_, compute_, note_, heatmap_);
    connect(score_, &QComboBox::currentIndexChanged, this, &HeadsView::refresh);
    connect(compute_, &QPushButton::clicked, this, &HeadsView::computeRequested);
    connect(heatmap_, &HeatmapPlot::cellClicked, this, &HeadsView::headChosen);
    heatmap_->set_describer([this](int64_t layer, int64_t head, double value) {
        return tr("layer %1 head %2: %3 %4")
            .arg(layer)
            .arg(head)
            .arg(score_->currentText().toLower())
            .arg(value, 0, 'f', 3);
    });
}

void HeadsView::set_scores(const HeadScores& scores) {
    scores_ = scores;
    note_->setText(tr("Stripe means over %1 sequences of %2 random tokens followed by the same tokens again. "
                      "Click a head to open it in the attention view.")
                       .arg(scores.sequences)
                       .arg(scores.sequence_length));
    refresh();
}

void HeadsView::set_busy(bool busy) {
    if (busy && compute_->hasFocus()) setFocus(); // else Qt hands focus on to the next widget in the window
    compute_->setEnabled(!busy);
}

void HeadsView::clear_scores() {
    scores_.reset();
    heatmap_->set_matrix({}, {0, 1}, {}, {});
}

void HeadsView::set_score(Score score) {
    score_->setCurrentIndex(score_->findData(score));
}

void HeadsView::refresh() {
    if (!scores_) return;
    const auto& table = score_->currentData().toInt() == PreviousToken    ? scores_->previous_token
                        : score_->currentData().toInt() == DuplicateToken ? scores_->duplicate_token
                                                                          : scores_->induction;
    Matrix m;
    m.rows = static_cast<int64_t>(table.size());
    m.cols = table.empty() ? 0 : static_cast<int64_t>(table.front().size());
    for (const auto& layer : table)
        m.values.insert(m.values.end(), layer.begin(), layer.end());
    heatmap_->set_matrix(std::move(m), {0.0, 1.0}, {}, {});
}

} // namespace hookscope::ui
