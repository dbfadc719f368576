#include "ui/heatmap_plot.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace hookscope::ui {

namespace {

constexpr int kMaxLabels = 40;

// At most one label per `spacing` pixels of an axis `pixels` long, and never more
// than kMaxLabels.
QSharedPointer<QCPAxisTickerText> ticker_for(int64_t count, const QStringList& labels, int pixels, int spacing) {
    const int64_t fit = std::clamp<int64_t>(pixels / std::max(spacing, 1), 2, kMaxLabels);
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (const int64_t i : thinned_ticks(count, fit)) {
        const QString label = i < labels.size() ? labels[static_cast<qsizetype>(i)] : QString::number(i);
        ticker->addTick(static_cast<double>(i), label);
    }
    return ticker;
}

} // namespace

namespace {

// A gradient through `stops` (position in [0, 1], colour), with masked (NaN) cells grey.
QCPColorGradient gradient(std::initializer_list<std::pair<double, QColor>> stops) {
    QCPColorGradient g;
    g.clearColorStops();
    for (const auto& [position, colour] : stops)
        g.setColorStopAt(position, colour);
    g.setNanHandling(QCPColorGradient::nhNanColor);
    g.setNanColor(QColor(225, 225, 225));
    return g;
}

} // namespace

QCPColorGradient sequential_gradient() {
    // Viridis at five stops.
    return gradient({{0.0, QColor(68, 1, 84)},
                     {0.25, QColor(59, 82, 139)},
                     {0.5, QColor(33, 145, 140)},
                     {0.75, QColor(94, 201, 98)},
                     {1.0, QColor(253, 231, 37)}});
}

QCPColorGradient diverging_gradient() {
    return gradient({{0.0, QColor(33, 102, 172)}, {0.5, QColor(247, 247, 247)}, {1.0, QColor(178, 24, 43)}});
}

std::vector<int64_t> thinned_ticks(int64_t count, int64_t max_labels) {
    std::vector<int64_t> ticks;
    if (count <= 0 || max_labels <= 0) return ticks;
    const int64_t step = std::max<int64_t>(1, (count + max_labels - 1) / max_labels);
    for (int64_t i = 0; i < count; i += step)
        ticks.push_back(i);
    return ticks;
}

void share_evenly(QSplitter* splitter, QWidget* a, QWidget* b) {
    QList<int> sizes = splitter->sizes();
    const int ia = splitter->indexOf(a), ib = splitter->indexOf(b);
    int others = 0;
    for (int i = 0; i < sizes.size(); ++i)
        others += i == ia || i == ib ? 0 : sizes[i];
    const int extent = splitter->orientation() == Qt::Horizontal ? splitter->width() : splitter->height();
    const int room = std::max(0, extent - others - (splitter->count() - 1) * splitter->handleWidth());
    sizes[ia] = sizes[ib] = room / 2;
    splitter->setSizes(sizes);
}

void lay_out_heatmap_view(QWidget* view, QWidget* chooser, QWidget* compute, QLabel* note, QWidget* plot) {
    note->setWordWrap(true);
    auto* controls = new QHBoxLayout;
    controls->addWidget(chooser);
    controls->addWidget(compute);
    controls->addStretch();
    auto* layout = new QVBoxLayout(view);
    layout->addLayout(controls);
    layout->addWidget(note);
    layout->addWidget(plot, 1);
}

bool save_plot(QCustomPlot* plot, const QString& path) {
    if (path.endsWith(".pdf", Qt::CaseInsensitive)) return plot->savePdf(path);
    return plot->savePng(path);
}

HeatmapPlot::HeatmapPlot(QWidget* parent) : QCustomPlot(parent) {
    setMouseTracking(true);
    // Never laid out to nothing (a splitter gives a hidden pane no width): a plot drawn
    // at zero size fails to open its painter and says so on stderr.
    setMinimumSize(100, 60);
    map_ = new QCPColorMap(xAxis, yAxis);
    map_->setInterpolate(false); // crisp cells
    map_->setTightBoundary(false);
    scale_ = new QCPColorScale(this);
    plotLayout()->addElement(0, 1, scale_);
    map_->setColorScale(scale_);
    auto* margins = new QCPMarginGroup(this);
    axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    yAxis->setRangeReversed(true); // row 0 at the top
    xAxis->setTickLabelRotation(60);
    xAxis->grid()->setVisible(false);
    yAxis->grid()->setVisible(false);
    setNoAntialiasingOnDrag(true);
    connect(this, &QCustomPlot::beforeReplot, this, &HeatmapPlot::place_cell_texts);
    // What the axes' labels and the colour scale took at the last layout: the axis rect
    // of another size is the widget less about as much.
    connect(this, &QCustomPlot::afterLayout, this, [this] {
        const QSize margins(viewport().width() - axisRect()->width(), viewport().height() - axisRect()->height());
        if (margins == margins_) return;
        margins_ = margins;
        update_tickers(); // for the next replot (one queued here could chase its own labels)
    });
    set_matrix({}, {0, 1}, {}, {});
}

void HeatmapPlot::set_cell_texts(const QStringList& texts) {
    for (QCPItemText* item : cell_texts_)
        removeItem(item);
    cell_texts_.clear();
    full_cell_texts_.clear();
    // Past a few thousand cells no text could fit anyway.
    constexpr qsizetype kMostTexts = 4096;
    if (texts.size() != matrix_.rows * matrix_.cols || texts.isEmpty() || texts.size() > kMostTexts) {
        replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const QCPRange range = map_->dataRange();
    const bool diverging = colours_.diverging;
    for (int64_t r = 0; r < matrix_.rows; ++r) {
        for (int64_t c = 0; c < matrix_.cols; ++c) {
            auto* item = new QCPItemText(this);
            item->setClipToAxisRect(true);
            item->position->setType(QCPItemPosition::ptPlotCoords);
            item->position->setCoords(static_cast<double>(c), static_cast<double>(r));
            item->setPositionAlignment(Qt::AlignCenter);
            full_cell_texts_.push_back(texts[static_cast<qsizetype>(r * matrix_.cols + c)]);
            // Dark text on the light part of the gradient, light text on the dark part.
            const double v = matrix_.at(r, c);
            const double t = range.size() > 0 ? (v - range.lower) / range.size() : 0.5;
            const bool light_cell = diverging ? std::abs(t - 0.5) < 0.3 : t > 0.55;
            item->setColor(std::isnan(v) || light_cell ? Qt::black : Qt::white);
            cell_texts_.push_back(item);
        }
    }
    replot(QCustomPlot::rpQueuedReplot);
}

void HeatmapPlot::place_cell_texts() {
    shown_cell_texts_ = 0;
    if (cell_texts_.empty()) return;
    const double width = std::abs(xAxis->coordToPixel(1) - xAxis->coordToPixel(0));
    const double height = std::abs(yAxis->coordToPixel(1) - yAxis->coordToPixel(0));
    const QFontMetrics metrics(cell_texts_.front()->font());
    const QString ellipsis(QChar(0x2026));
    for (std::size_t i = 0; i < cell_texts_.size(); ++i) {
        // A long text is cut with an ellipsis; hovering the cell shows it whole.
        const QString& text = full_cell_texts_[i];
        const QString shown = metrics.elidedText(text, Qt::ElideRight, static_cast<int>(width) - 4);
        const bool fits = !shown.isEmpty() && (shown != ellipsis || text == ellipsis) && metrics.height() <= height;
        cell_texts_[i]->setText(shown);
        cell_texts_[i]->setVisible(fits);
        shown_cell_texts_ += fits ? 1 : 0;
    }
}

void HeatmapPlot::set_axis_titles(const QString& rows, const QString& cols) {
    yAxis->setLabel(rows);
    xAxis->setLabel(cols);
}

void HeatmapPlot::set_matrix(Matrix m, ColourRange range, const QStringList& row_labels,
                             const QStringList& col_labels) {
    matrix_ = std::move(m);
    const auto rows = static_cast<int>(matrix_.rows), cols = static_cast<int>(matrix_.cols);
    // A single row or column is drawn as two half-width cells spanning [-0.5, 0.5]:
    // QCPColorMap gives one cell of a one-cell axis no width.
    const int key_cells = std::max(cols, 2), value_cells = std::max(rows, 2);
    const auto axis_range = [](int n) { return n > 1 ? QCPRange(0, n - 1) : QCPRange(-0.25, 0.25); };
    QCPColorMapData* data = map_->data();
    data->setSize(key_cells, value_cells);
    data->setRange(axis_range(cols), axis_range(rows));
    if (rows > 0 && cols > 0) {
        for (int r = 0; r < value_cells; ++r) {
            for (int c = 0; c < key_cells; ++c)
                data->setCell(c, r, matrix_.at(std::min(r, rows - 1), std::min(c, cols - 1)));
        }
    }
    // Nothing to show is drawn as nothing, not as the cells of an earlier matrix.
    const bool empty = rows == 0 || cols == 0;
    map_->setVisible(!empty);
    scale_->setVisible(!empty);
    colours_ = range;
    map_->setGradient(range.diverging ? diverging_gradient() : sequential_gradient());
    map_->setDataRange(QCPRange(range.lower, range.upper));
    row_labels_ = row_labels;
    col_labels_ = col_labels;
    update_tickers();
    xAxis->setRange(-0.5, cols - 0.5);
    yAxis->setRange(-0.5, rows - 0.5);
    replot(QCustomPlot::rpQueuedReplot);
}

void HeatmapPlot::update_tickers() {
    // Labels a line and a third apart: key labels are drawn turned by 60 degrees, so
    // that is what keeps neighbours from overlapping. The axis rect is the widget less
    // the other axis's labels and the colour scale (estimated before the first layout).
    const int spacing = QFontMetrics(xAxis->tickLabelFont()).height() * 4 / 3;
    const int across = width() - margins_.width(), down = height() - margins_.height();
    xAxis->setTicker(ticker_for(matrix_.cols, col_labels_, across, spacing));
    yAxis->setTicker(ticker_for(matrix_.rows, row_labels_, down, spacing));
}

void HeatmapPlot::resizeEvent(QResizeEvent* event) {
    QCustomPlot::resizeEvent(event);
    update_tickers();
}

std::optional<std::pair<int64_t, int64_t>> HeatmapPlot::cell_at(const QPoint& point) const {
    if (!axisRect()->rect().contains(point)) return std::nullopt;
    const auto col = static_cast<int64_t>(std::lround(xAxis->pixelToCoord(point.x())));
    const auto row = static_cast<int64_t>(std::lround(yAxis->pixelToCoord(point.y())));
    if (row < 0 || col < 0 || row >= matrix_.rows || col >= matrix_.cols) return std::nullopt;
    return std::make_pair(row, col);
}

QString HeatmapPlot::describe(int64_t row, int64_t col) const {
    if (row < 0 || col < 0 || row >= matrix_.rows || col >= matrix_.cols) return {};
    const double value = matrix_.at(row, col);
    if (describer_) return describer_(row, col, value);
    return QStringLiteral("[%1, %2] = %3")
        .arg(row)
        .arg(col)
        .arg(std::isnan(value) ? tr("masked") : QString::number(value, 'g', 5));
}

void HeatmapPlot::mouseMoveEvent(QMouseEvent* event) {
    QCustomPlot::mouseMoveEvent(event);
    const auto cell = cell_at(event->pos());
    if (cell) {
        QToolTip::showText(event->globalPosition().toPoint(), describe(cell->first, cell->second), this);
    } else {
        QToolTip::hideText();
    }
}

void HeatmapPlot::mousePressEvent(QMouseEvent* event) {
    QCustomPlot::mousePressEvent(event);
    if (const auto cell = cell_at(event->pos())) emit cellClicked(cell->first, cell->second);
}

} // namespace hookscope::ui
