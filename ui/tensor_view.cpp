#include "ui/tensor_view.h"

#include "bridge/analysis/view_data.h"
#include "bridge/model/activation_cache.h"
#include "ui/logits_view.h"
#include "ui/plot_axes.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <utility>

namespace hookscope::ui {

TensorView::TensorView(QWidget* parent) : QWidget(parent) {
    title_ = new QLabel(tr("Select a hook point in the tree to see its values."), this);
    title_->setObjectName("tensorTitle");
    title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    head_ = new QSpinBox(this);
    head_->setObjectName("tensorHead");
    head_->setPrefix(tr("head "));
    head_->hide();
    heatmap_ = new HeatmapPlot(this);
    heatmap_->setObjectName("tensorHeatmap");
    heatmap_->set_axis_titles(tr("position"), tr("feature"));
    bars_ = new QCustomPlot(this);
    bars_->setObjectName("tensorBars");
    bars_->setMinimumWidth(120);
    // The labels follow the plot's size: once laid out, a plot whose labels must thin
    // draws again with them.
    connect(bars_, &QCustomPlot::afterLayout, this, [this] {
        if (fit_bar_labels()) bars_->replot(QCustomPlot::rpQueuedReplot);
    });
    logits_ = new LogitsView(this);

    plots_ = new QSplitter(this);
    plots_->setChildrenCollapsible(false);
    QSplitter* plots = plots_;
    plots->addWidget(heatmap_);
    pinned_heatmap_ = new HeatmapPlot(this);
    pinned_heatmap_->setObjectName("pinnedTensorHeatmap");
    pinned_heatmap_->hide();
    plots->addWidget(pinned_heatmap_);
    plots->addWidget(bars_);
    plots->setStretchFactor(0, 4);
    plots->setStretchFactor(1, 4);
    plots->setStretchFactor(2, 1);
    stack_ = new QStackedWidget(this);
    stack_->addWidget(plots);
    stack_->addWidget(logits_);

    compare_ = new CompareBox(this);
    auto* header = new QHBoxLayout;
    header->addWidget(title_, 1);
    header->addWidget(compare_);
    header->addWidget(head_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(header);
    layout->addWidget(stack_, 1);
    connect(head_, &QSpinBox::valueChanged, this, &TensorView::refresh);
    connect(compare_, &QComboBox::currentIndexChanged, this, &TensorView::refresh);
    heatmap_->set_describer([this](int64_t row, int64_t col, double value) {
        const QString token = row < labels_.size() ? labels_[static_cast<qsizetype>(row)] : QString();
        return tr("position %1 %2 · feature %3: %4").arg(row).arg(token).arg(col).arg(value, 0, 'g', 5);
    });
}

void TensorView::show_bars(const std::vector<double>& values, const QStringList& labels, const QString& title) {
    bars_->clearPlottables();
    auto* bars = new QCPBars(bars_->yAxis, bars_->xAxis); // horizontal: positions down, like the heatmap
    QVector<double> keys, heights;
    for (std::size_t i = 0; i < values.size(); ++i) {
        keys << static_cast<double>(i);
        heights << values[i];
    }
    bars->setData(keys, heights, true);
    bars->setWidth(0.8);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(70, 110, 170));
    bar_labels_.clear();
    for (std::size_t i = 0; i < values.size(); ++i)
        bar_labels_ << (static_cast<qsizetype>(i) < labels.size() ? labels[static_cast<qsizetype>(i)]
                                                                  : QString::number(i));
    bar_step_ = 0;
    bars_->yAxis->setRangeReversed(true);
    bars_->yAxis->setRange(-0.5, static_cast<double>(values.size()) - 0.5);
    bars_->xAxis->setLabel(title);
    bool found = false;
    const QCPRange range = bars->getValueRange(found);
    bars_->xAxis->setRange(std::min(0.0, found ? range.lower : 0.0),
                           found && range.upper > 0 ? range.upper * 1.05 : 1.0);
    fit_bar_labels();
    bars_->replot(QCustomPlot::rpQueuedReplot);
}

bool TensorView::fit_bar_labels() {
    bool changed = fit_value_ticks(bars_->xAxis);
    const QFontMetrics metrics(bars_->yAxis->tickLabelFont());
    const double per_bar = bars_->axisRect()->height() / std::max(bars_->yAxis->range().size(), 1e-9);
    const int64_t step = fit_labels_down(metrics.height(), per_bar).step;
    if (step == bar_step_) return changed;
    bar_step_ = step;
    bars_->yAxis->setTicker(every_nth_label(bar_labels_, step));
    return true;
}

void TensorView::set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, Labeler labeler) {
    cache_ = std::move(cache);
    labels_ = std::move(token_labels);
    labeler_ = std::move(labeler);
    show_hook(hook_);
}

void TensorView::show_hook(const QString& name) {
    hook_ = name;
    head_->blockSignals(true);
    head_->setValue(0);
    head_->blockSignals(false);
    refresh();
}

void TensorView::set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer) {
    logits_->set_tokenizer(std::move(tokenizer));
}

void TensorView::save(QSettings& settings) const {
    logits_->save(settings);
}

void TensorView::restore(const QSettings& settings) {
    logits_->restore(settings);
}

QTableWidget* TensorView::logits_table() const {
    return logits_->table();
}

QCustomPlot* TensorView::current_plot() const {
    if (stack_->currentIndex() != 0) return nullptr; // the logits table
    return heatmap_->isHidden() ? bars_ : heatmap_;  // norm scales are bars alone
}

void TensorView::refresh() {
    try {
        draw();
    } catch (const std::exception& e) { // a tensor the views cannot read: say so, keep going
        title_->setText(tr("`%1` cannot be shown: %2").arg(hook_, QString::fromStdString(e.what())));
    }
}

void TensorView::set_pinned(std::shared_ptr<const ActivationCache> pinned, QStringList token_labels) {
    pinned_ = std::move(pinned);
    pinned_labels_ = std::move(token_labels);
    compare_->setVisible(pinned_ != nullptr);
    if (!pinned_) compare_->set_mode(CompareMode::Current);
    refresh();
}

void TensorView::show_nothing(const QString& title) {
    title_->setText(title);
    head_->hide();
    stack_->setCurrentIndex(0);
    logits_->clear();
    heatmap_->set_matrix({}, {0, 1}, {}, {});
    heatmap_->replot();
    show_bars({}, {}, {});
}

void TensorView::draw() {
    pinned_heatmap_->hide(); // shown again below, for a side-by-side heatmap
    const bool was_side_by_side = std::exchange(side_by_side_, false);
    const std::string name = hook_.toStdString();
    if (!cache_ || name.empty()) return show_nothing(tr("Select a captured hook point in the tree to see its values."));
    Compared shown;
    at::Tensor tensor;
    try {
        tensor = compared_tensor(name, compare_->mode(), *cache_, pinned_.get(), labels_, pinned_labels_, shown);
    } catch (const std::invalid_argument& e) {
        return show_nothing(QString::fromStdString(e.what())); // no plot of an earlier tensor under this title
    }
    const at::Tensor* t = &tensor;
    const QStringList& labels = shown.labels;
    QStringList dims;
    for (const int64_t d : t->sizes())
        dims << QString::number(d);
    title_->setText(QStringLiteral("<b>%1</b> [%2]%3")
                        .arg(hook_.toHtmlEscaped(), dims.join(", "),
                             shown.note.isEmpty() ? QString() : " · " + shown.note.toHtmlEscaped()));

    if (name == "unembed.hook_out" &&
        compare_->mode() != CompareMode::Difference) { // logits: the most likely tokens per position
        stack_->setCurrentIndex(1);
        head_->hide();
        logits_->set_logits(*t, labels, labeler_);
        return;
    }

    stack_->setCurrentIndex(0);
    logits_->clear();
    const HookLayout layout = layout_of(name, t->sizes().vec());
    const int64_t heads = head_count(name, *t);
    head_->setVisible(heads > 1);
    head_->blockSignals(true);
    head_->setRange(0, static_cast<int>(heads - 1));
    head_->blockSignals(false);
    Matrix m = hook_matrix(name, *t, head_->value());
    const std::vector<double> norms = row_norms(m);
    if (layout == HookLayout::Scalars) {
        heatmap_->hide();
        show_bars(std::vector<double>(m.values.begin(), m.values.end()), labels, tr("value"));
        return;
    }
    heatmap_->show();
    const bool square = layout == HookLayout::HeadMatrix;
    heatmap_->set_axis_titles(square ? tr("query") : tr("position"), square ? tr("key") : tr("feature"));
    // One value everywhere is one colour: the title names the value the colour stands for.
    if (const std::optional<double> uniform = uniform_value(m))
        title_->setText(title_->text() + tr(" · all values equal %1").arg(*uniform, 0, 'g', 6));
    ColourRange range = colour_range(m);
    const at::Tensor* beside = compare_->mode() == CompareMode::SideBySide && pinned_ ? pinned_->find(name) : nullptr;
    pinned_heatmap_->setVisible(beside != nullptr);
    if (beside && !was_side_by_side) share_evenly(plots_, heatmap_, pinned_heatmap_);
    side_by_side_ = beside != nullptr;
    if (beside) { // the pinned run on the right, on the same colour scale
        Matrix pm = hook_matrix(name, *beside, std::min<int64_t>(head_->value(), head_count(name, *beside) - 1));
        range = colour_range(m, pm);
        pinned_heatmap_->set_axis_titles(square ? tr("query (pinned run)") : tr("position (pinned run)"),
                                         square ? tr("key") : tr("feature"));
        pinned_heatmap_->set_matrix(std::move(pm), range, pinned_labels_, square ? pinned_labels_ : QStringList());
    }
    heatmap_->set_matrix(std::move(m), range, labels, square ? labels : QStringList());
    show_bars(norms, labels, tr("L2 norm"));
}

} // namespace hookscope::ui
