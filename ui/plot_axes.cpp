#include "ui/plot_axes.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace hookscope::ui {

int label_gap(int line_height) {
    return std::max(line_height / 3, 2);
}

TickFit fit_labels_across(int widest, int line_height, double pixels_per_tick) {
    const int gap = label_gap(line_height);
    if (widest + gap <= pixels_per_tick) return {1, false};
    return {fit_labels_down(line_height, pixels_per_tick).step, true};
}

TickFit fit_labels_down(int line_height, double pixels_per_tick) {
    const double needed = line_height + label_gap(line_height);
    if (pixels_per_tick <= 0) return {1, false};
    return {std::max<int64_t>(1, static_cast<int64_t>(std::ceil(needed / pixels_per_tick))), false};
}

QSharedPointer<QCPAxisTickerText> every_nth_label(const QStringList& labels, int64_t step) {
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (qsizetype i = 0; i < labels.size(); i += std::max<int64_t>(step, 1))
        ticker->addTick(static_cast<double>(i), labels[i]);
    return ticker;
}

namespace {

// Whether the labels `ticker` gives at `count` ticks keep apart and inside the widget.
bool value_labels_fit(QCPAxis* axis, int count) {
    const auto& ticker = axis->ticker();
    const int previous = ticker->tickCount();
    ticker->setTickCount(count);
    QVector<double> ticks;
    QVector<QString> labels;
    ticker->generate(axis->range(), axis->parentPlot()->locale(), axis->numberFormat().at(0), axis->numberPrecision(),
                     ticks, nullptr, &labels);
    ticker->setTickCount(previous);
    const QFontMetrics metrics(axis->tickLabelFont());
    const bool across = axis->orientation() == Qt::Horizontal;
    const QRect viewport = axis->parentPlot()->viewport();
    std::vector<std::pair<double, double>> spans; // pixels along the axis
    for (qsizetype i = 0; i < ticks.size(); ++i) {
        if (!axis->range().contains(ticks[i])) continue;
        const double extent = across ? metrics.horizontalAdvance(labels[i]) : metrics.height();
        const double low = axis->coordToPixel(ticks[i]) - extent / 2;
        spans.emplace_back(low, low + extent);
    }
    std::sort(spans.begin(), spans.end());
    const int gap = label_gap(metrics.height());
    for (std::size_t i = 0; i < spans.size(); ++i) {
        // QCustomPlot leaves out a label that would cross the widget's border.
        const auto [low, high] = spans[i];
        if (across ? low < viewport.left() || high > viewport.right()
                   : low < viewport.top() || high > viewport.bottom())
            return false;
        if (i > 0 && low < spans[i - 1].second + gap) return false;
    }
    return true;
}

} // namespace

bool fit_value_ticks(QCPAxis* axis) {
    constexpr int kMostTicks = 5; // QCPAxisTicker's own default
    int count = 1;
    for (int c = kMostTicks; c > 1; --c) {
        if (value_labels_fit(axis, c)) {
            count = c;
            break;
        }
    }
    if (axis->ticker()->tickCount() == count) return false;
    axis->ticker()->setTickCount(count);
    return true;
}

} // namespace hookscope::ui
