#include "ui/attribution_view.h"

#include "ui/heatmap_plot.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

namespace hookscope::ui {

AttributionView::AttributionView(QWidget* parent) : QWidget(parent) {
    position_ = new QSpinBox(this);
    position_->setObjectName("attributionPosition");
    position_->setRange(0, 0);
    target_ = new QLineEdit(this);
    target_->setObjectName("attributionTarget");
    // Placeholders short enough to show whole beside the form's labels at 1280x800; the
    // tooltips say the rest.
    target_->setPlaceholderText(tr("token id or text (default: next token)"));
    target_->setToolTip(tr("The token whose logit to attribute: a token id or its text. Empty: the token that "
                           "came next at this position, or the model's top prediction at the last position."));
    contrast_ = new QLineEdit(this);
    contrast_->setObjectName("attributionContrast");
    contrast_->setPlaceholderText(tr("optional: a token to subtract"));
    contrast_->setToolTip(tr("A token id or text: attributes the difference of the two logits, the target's minus "
                             "this token's. Empty: the target's logit alone."));
    compute_ = new QPushButton(tr("Attribute"), this);
    compute_->setObjectName("computeAttribution");
    error_ = new QLabel(this);
    error_->setObjectName("attributionError");
    error_->setStyleSheet("color: #b00020;");
    error_->setWordWrap(true);
    error_->hide();
    summary_ = new QLabel(this);
    summary_->setObjectName("attributionSummary");
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    heatmap_ = new HeatmapPlot(this);
    heatmap_->setObjectName("attributionHeatmap");
    heatmap_->set_axis_titles(tr("layer"), tr("head (last column: MLP)"));
    heatmap_->set_describer([this](int64_t layer, int64_t col, double value) {
        const bool mlp = attribution_ && col == static_cast<int64_t>(attribution_->heads.front().size());
        const QString part = mlp ? tr("layer %1 MLP").arg(layer) : tr("layer %1 head %2").arg(layer).arg(col);
        return tr("%1: %2").arg(part).arg(value, 0, 'f', 4);
    });

    auto* form = new QFormLayout;
    form->addRow(tr("Position"), position_);
    form->addRow(tr("Target"), target_);
    form->addRow(tr("Contrast"), contrast_);
    auto* controls = new QHBoxLayout;
    controls->addLayout(form, 1);
    controls->addWidget(compute_, 0, Qt::AlignBottom);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(error_);
    layout->addWidget(summary_);
    layout->addWidget(heatmap_, 1);

    connect(compute_, &QPushButton::clicked, this, &AttributionView::computeRequested);
    connect(target_, &QLineEdit::returnPressed, this, &AttributionView::computeRequested);
    connect(contrast_, &QLineEdit::returnPressed, this, &AttributionView::computeRequested);
    connect(heatmap_, &HeatmapPlot::cellClicked, this, [this](int64_t layer, int64_t col) {
        if (attribution_ && col < static_cast<int64_t>(attribution_->heads.front().size())) emit headChosen(layer, col);
    });
    clear();
}

void AttributionView::set_positions(int64_t positions) {
    const bool was_last = position_->value() == position_->maximum();
    position_->setRange(0, static_cast<int>(std::max<int64_t>(positions - 1, 0)));
    if (was_last) position_->setValue(position_->maximum());
}

int64_t AttributionView::chosen_position() const {
    return position_->value();
}

QString AttributionView::target_text() const {
    return target_->text();
}

QString AttributionView::contrast_text() const {
    return contrast_->text();
}

void AttributionView::set_busy(bool busy) {
    if (busy && compute_->hasFocus()) setFocus(); // else Qt hands focus on to the next widget in the window
    compute_->setEnabled(!busy);
}

void AttributionView::show_error(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

void AttributionView::set_attribution(const Attribution& a, std::function<QString(int64_t)> labeler,
                                      std::optional<double> interventions) {
    attribution_ = a;
    interventions_part_ = interventions;
    show_error({});
    const auto heads = static_cast<int64_t>(a.heads.empty() ? 0 : a.heads.front().size());
    Matrix m;
    m.rows = static_cast<int64_t>(a.heads.size());
    m.cols = heads + 1;
    double largest = 1e-9;
    for (std::size_t l = 0; l < a.heads.size(); ++l) {
        for (const double h : a.heads[l])
            m.values.push_back(h);
        m.values.push_back(a.mlp[l]);
    }
    for (const double v : m.values)
        largest = std::max(largest, std::abs(v));
    QStringList cols;
    for (int64_t h = 0; h < heads; ++h)
        cols << QString::number(h);
    cols << tr("MLP");
    heatmap_->set_matrix(std::move(m), {-largest, largest, true}, {}, cols);

    QString what = tr("logit of %1").arg(labeler(a.target));
    if (a.contrast) what = tr("logit of %1 minus %2").arg(labeler(a.target), labeler(*a.contrast));
    QString parts = tr("embed %1").arg(a.embed, 0, 'f', 3);
    if (a.pos_embed) parts += tr(" · pos_embed %1").arg(*a.pos_embed, 0, 'f', 3);
    parts += tr(" · output biases %1 · final norm constant %2").arg(a.biases, 0, 'f', 3).arg(a.constant, 0, 'f', 3);
    if (interventions) parts += tr(" · interventions %1").arg(*interventions, 0, 'f', 3);
    summary_->setText(tr("%1 at position %2: %3 (the parts sum to %4)\n%5")
                          .arg(what)
                          .arg(a.position)
                          .arg(a.logit, 0, 'f', 3)
                          .arg(a.sum, 0, 'f', 3)
                          .arg(parts));
}

void AttributionView::clear() {
    attribution_.reset();
    interventions_part_.reset();
    summary_->setText(tr("Which heads and MLPs push a token's logit up or down at one position, through the "
                         "final norm frozen at its scale."));
    heatmap_->set_matrix({}, {0, 1}, {}, {});
}

} // namespace hookscope::ui
