#include "ui/residual_view.h"

#include "bridge/model/activation_cache.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QToolTip>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace hookscope::ui {

namespace {

// Short stage names for the axis: "0 pre" ... "11 pre", "11 post".
QString stage_label(const std::string& name) {
    const QString s = QString::fromStdString(name);
    const QString layer = s.section('.', 1, 1);
    return layer + (s.endsWith("resid_post") ? " post" : " pre");
}

} // namespace

ResidualView::ResidualView(QWidget* parent) : QWidget(parent) {
    plot_ = new QCustomPlot(this);
    plot_->setObjectName("residualPlot");
    plot_->setMouseTracking(true);
    plot_->legend->setVisible(true);
    // The legend under the plot, not over its lines.
    plot_->axisRect()->insetLayout()->take(plot_->legend);
    plot_->plotLayout()->addElement(1, 0, plot_->legend);
    plot_->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot_->plotLayout()->setRowStretchFactor(1, 0.001);
    // The tick labels say which stream ("3 pre", "3 post"); a longer title is cut off
    // in a narrow plot.
    plot_->xAxis->setLabel(tr("layer"));
    plot_->yAxis->setLabel(tr("L2 norm of the residual stream"));
    log_ = new QCheckBox(tr("Log scale"), this);
    log_->setObjectName("residualLog");
    positions_ = new QListWidget(this);
    positions_->setObjectName("residualPositions");
    positions_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    positions_->setMaximumWidth(200);
    positions_->setToolTip(tr("Positions drawn beside the mean (multi-select)"));
    message_ = new QLabel(tr("Generate or run a prompt to see the residual stream."), this);

    auto* side = new QVBoxLayout;
    side->addWidget(log_);
    side->addWidget(positions_, 1);
    auto* body = new QHBoxLayout;
    body->addWidget(plot_, 1);
    body->addLayout(side);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(message_);
    layout->addLayout(body, 1);

    // The stage labels follow the axis's length: once laid out, a plot whose labels
    // must turn or thin draws again with them.
    connect(plot_, &QCustomPlot::afterLayout, this, [this] {
        const bool labels = fit_stage_labels(), legend = fit_legend();
        if (labels || legend) plot_->replot(QCustomPlot::rpQueuedReplot);
    });
    connect(log_, &QCheckBox::toggled, this, &ResidualView::set_log_scale);
    connect(positions_, &QListWidget::itemSelectionChanged, this, &ResidualView::refresh);
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* event) {
        // The value of the nearest stage on every line.
        const double x = plot_->xAxis->pixelToCoord(event->pos().x());
        const auto stage = static_cast<int64_t>(std::lround(x));
        if (stage < 0 || stage >= static_cast<int64_t>(norms_.stages.size())) return QToolTip::hideText();
        QStringList lines{QString::fromStdString(norms_.stages[static_cast<std::size_t>(stage)])};
        for (int g = 0; g < plot_->graphCount(); ++g) {
            const auto it = plot_->graph(g)->data()->findBegin(static_cast<double>(stage), false);
            if (it != plot_->graph(g)->data()->constEnd() && it->key == static_cast<double>(stage))
                lines << QStringLiteral("%1: %2").arg(plot_->graph(g)->name()).arg(it->value, 0, 'g', 5);
        }
        QToolTip::showText(event->globalPosition().toPoint(), lines.join('\n'), plot_);
    });
}

void ResidualView::set_pinned(std::shared_ptr<const ActivationCache> pinned) {
    pinned_ = std::move(pinned);
    try {
        pinned_norms_ = pinned_ ? residual_norms(*pinned_, layers_) : ResidualNorms{};
    } catch (const std::exception&) {
        pinned_norms_ = {};
    }
    refresh();
}

void ResidualView::set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, int64_t layers) {
    layers_ = layers;
    if (pinned_) {
        try {
            pinned_norms_ = residual_norms(*pinned_, layers_);
        } catch (const std::exception&) {
            pinned_norms_ = {};
        }
    }
    try {
        norms_ = cache ? residual_norms(*cache, layers) : ResidualNorms{};
    } catch (const std::exception&) { // a tensor it cannot read: no lines
        norms_ = {};
    }
    labels_ = std::move(token_labels);
    positions_->blockSignals(true);
    positions_->clear();
    const std::size_t count = norms_.norms.empty() ? 0 : norms_.norms.front().size();
    for (std::size_t p = 0; p < count; ++p) {
        positions_->addItem(QStringLiteral("%1 %2").arg(p).arg(
            static_cast<qsizetype>(p) < labels_.size() ? labels_[static_cast<qsizetype>(p)] : QString()));
    }
    positions_->blockSignals(false);
    message_->setVisible(norms_.stages.empty());
    if (norms_.stages.empty() && cache) {
        message_->setText(tr("No hook_resid_pre was captured in this run (names filter: `%1`).")
                              .arg(QString::fromStdString(cache->names_filter())));
    }
    refresh();
}

void ResidualView::set_log_scale(bool on) {
    log_->setChecked(on);
    plot_->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    plot_->yAxis->setTicker(on ? QSharedPointer<QCPAxisTicker>(new QCPAxisTickerLog)
                               : QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    rescale();
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

void ResidualView::rescale() {
    plot_->rescaleAxes();
    // Room above the highest point and below the lowest, so that no marker is cut.
    const QCPRange y = plot_->yAxis->range();
    if (plot_->yAxis->scaleType() == QCPAxis::stLogarithmic) {
        plot_->yAxis->setRange(y.lower / 1.3, y.upper * 1.3);
    } else {
        const double pad = std::max(0.08 * y.size(), 1e-9);
        plot_->yAxis->setRange(y.lower - pad, y.upper + pad);
    }
    if (!norms_.stages.empty()) plot_->xAxis->setRange(-0.3, static_cast<double>(norms_.stages.size()) - 0.7);
}

bool ResidualView::fit_stage_labels() {
    const QFontMetrics metrics(plot_->xAxis->tickLabelFont());
    int widest = 0;
    for (const QString& label : stage_labels_)
        widest = std::max(widest, metrics.horizontalAdvance(label));
    const double per_stage = plot_->axisRect()->width() / std::max(plot_->xAxis->range().size(), 1e-9);
    const TickFit fit = fit_labels_across(widest, metrics.height(), per_stage);
    if (stage_fit_ && stage_fit_->step == fit.step && stage_fit_->turned == fit.turned) return false;
    stage_fit_ = fit;
    plot_->xAxis->setTicker(every_nth_label(stage_labels_, fit.step));
    plot_->xAxis->setTickLabelRotation(fit.turned ? -90 : 0);
    return true;
}

bool ResidualView::fit_legend() {
    QCPLegend* legend = plot_->legend;
    int widest = 1;
    for (int i = 0; i < legend->itemCount(); ++i)
        widest = std::max(widest, legend->item(i)->minimumOuterSizeHint().width() + legend->columnSpacing());
    const QMargins m = legend->margins();
    const int room = plot_->viewport().width() - m.left() - m.right();
    const int columns = std::clamp(room / widest, 1, std::max(legend->itemCount(), 1));
    if (legend->wrap() == columns) return false;
    legend->setWrap(columns);
    legend->setFillOrder(QCPLegend::foColumnsFirst, true); // rearranges the items already there
    return true;
}

void ResidualView::select_positions(const std::vector<int64_t>& positions) {
    positions_->clearSelection();
    for (const int64_t p : positions) {
        if (p >= 0 && p < positions_->count()) positions_->item(static_cast<int>(p))->setSelected(true);
    }
}

void ResidualView::refresh() {
    plot_->clearGraphs();
    const std::size_t stages = norms_.stages.size();
    stage_labels_.clear();
    for (std::size_t s = 0; s < stages; ++s)
        stage_labels_ << stage_label(norms_.stages[s]);
    // QCustomPlot leaves out a tick label that would cross the widget's border: the
    // last stage's, half a label from the axis's end, needs that much room beside it.
    const QFontMetrics metrics(plot_->xAxis->tickLabelFont());
    const int half_last = stages ? metrics.horizontalAdvance(stage_labels_.back()) / 2 + 2 : 0;
    plot_->axisRect()->setMinimumMargins(QMargins(15, 15, std::max(15, half_last), 15));
    stage_fit_.reset();
    if (stages == 0) {
        fit_stage_labels();
        plot_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    QVector<double> keys;
    for (std::size_t s = 0; s < stages; ++s)
        keys << static_cast<double>(s);
    // The mean norm over all positions, stage by stage.
    const auto add_mean = [&](const ResidualNorms& norms, const QString& name, const QPen& pen) {
        const std::size_t positions = norms.norms.front().size();
        QVector<double> mean;
        for (std::size_t s = 0; s < stages; ++s) {
            double sum = 0;
            for (const double v : norms.norms[s])
                sum += v;
            mean << sum / static_cast<double>(std::max<std::size_t>(positions, 1));
        }
        QCPGraph* m = plot_->addGraph();
        m->setName(name.arg(positions));
        m->setData(keys, mean, true);
        m->setPen(pen);
        m->setScatterStyle(QCPScatterStyle::ssDisc);
    };
    add_mean(norms_, tr("mean over %1 positions"), QPen(Qt::black, 2));
    if (pinned_norms_.stages == norms_.stages && !pinned_norms_.norms.front().empty()) {
        add_mean(pinned_norms_, tr("pinned run: mean over %1 positions"), QPen(Qt::gray, 2, Qt::DashLine));
    }
    const QList<QColor> colours{QColor(31, 119, 180), QColor(255, 127, 14),  QColor(44, 160, 44),
                                QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75)};
    int k = 0;
    for (int row = 0; row < positions_->count(); ++row) {
        if (!positions_->item(row)->isSelected()) continue;
        QVector<double> values;
        for (std::size_t s = 0; s < stages; ++s)
            values << norms_.norms[s][static_cast<std::size_t>(row)];
        QCPGraph* g = plot_->addGraph();
        g->setName(positions_->item(row)->text());
        g->setData(keys, values, true);
        g->setPen(QPen(colours[k++ % colours.size()], 1.5));
        g->setScatterStyle(QCPScatterStyle::ssCircle);
    }
    rescale();
    fit_stage_labels();
    fit_legend();
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace hookscope::ui
