#pragma once
// Tick labels that stay legible: spaced by their font's metrics, turned a quarter when
// they do not fit side by side, thinned when even turned they would touch.

#include <QSharedPointer>
#include <QStringList>

#include <cstdint>

class QCPAxis;
class QCPAxisTickerText;

namespace hookscope::ui {

// Which labels an axis draws: every `step`-th one, from the first, and whether they
// are turned a quarter (reading upwards) along a horizontal axis.
struct TickFit {
    int64_t step = 1;
    bool turned = false;
};

// Space kept clear between neighbouring labels: a third of a line.
int label_gap(int line_height);

// Labels at most `widest` px wide and `line_height` px tall, `pixels_per_tick` apart
// along a horizontal axis: side by side when they fit, else turned, else turned and
// thinned.
TickFit fit_labels_across(int widest, int line_height, double pixels_per_tick);

// The same along a vertical axis, where labels stack: thinned until lines stay apart.
TickFit fit_labels_down(int line_height, double pixels_per_tick);

// A ticker labelling every `step`-th position (from 0) with its entry in `labels`.
QSharedPointer<QCPAxisTickerText> every_nth_label(const QStringList& labels, int64_t step);

// Gives a numeric axis as many ticks (up to its ticker's default five) as leave its
// labels apart and inside the plot, measured in its tick label font at the axis's
// current length and range. True when the tick count changed (a replot is due).
bool fit_value_ticks(QCPAxis* axis);

} // namespace hookscope::ui
