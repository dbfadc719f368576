#pragma once
// A heatmap of a prepared Matrix: rows down the vertical axis (positions, queries),
// columns along the horizontal one (features, keys), crisp cells, a colour scale, NaN
// cells drawn as masked, thinned token labels, and a tooltip for the cell under the
// mouse. It only draws what it is given (see view_data.h).

#include "bridge/analysis/view_data.h"

#include <qcustomplot.h>

#include <functional>
#include <optional>

class QLabel;
class QSplitter;

namespace hookscope::ui {

class HeatmapPlot : public QCustomPlot {
    Q_OBJECT

public:
    // Text for the tooltip of cell (row, col) holding `value`.
    using Describer = std::function<QString(int64_t row, int64_t col, double value)>;

    explicit HeatmapPlot(QWidget* parent = nullptr);

    // Labels may be empty (indices are shown); at most ~40 labels per axis are drawn.
    void set_matrix(Matrix m, ColourRange range, const QStringList& row_labels, const QStringList& col_labels);
    void set_describer(Describer describer) { describer_ = std::move(describer); }
    // Text drawn in each cell (row-major, rows x cols of the current matrix; empty
    // clears), shown in the cells wide and tall enough to hold it.
    void set_cell_texts(const QStringList& texts);
    // How many cell texts the last replot showed.
    int shown_cell_texts() const { return shown_cell_texts_; }
    void set_axis_titles(const QString& rows, const QString& cols);

    const Matrix& matrix() const { return matrix_; }
    QCPColorMap* color_map() const { return map_; }
    // The cell under a point in widget coordinates.
    std::optional<std::pair<int64_t, int64_t>> cell_at(const QPoint& point) const;
    // The tooltip text of a cell (empty outside the matrix).
    QString describe(int64_t row, int64_t col) const;

signals:
    void cellClicked(int64_t row, int64_t col);

protected:
    void mouseMoveEvent(QMouseEvent* event) override;
    void resizeEvent(QResizeEvent* event) override; // as many labels as fit the new size
    void mousePressEvent(QMouseEvent* event) override;

private:
    QCPColorMap* map_ = nullptr;
    QCPColorScale* scale_ = nullptr;
    void place_cell_texts();
    // Axis labels thinned to what the plot's size has room for.
    void update_tickers();
    QStringList row_labels_, col_labels_;
    QSize margins_{170, 120}; // the widget less its axis rect, from the last layout

    Matrix matrix_;
    ColourRange colours_;
    Describer describer_;
    std::vector<QCPItemText*> cell_texts_;
    int shown_cell_texts_ = 0;
    QStringList full_cell_texts_; // as given; the items show them cut to their cells
};

// Lays out a view made of a chooser and a compute button on one row, a wrapped note
// under them, and `plot` filling the rest; the note gets word wrap.
// At most `max_labels` evenly spaced indices in [0, count), 0 first: which token
// labels an axis can show legibly.
std::vector<int64_t> thinned_ticks(int64_t count, int64_t max_labels);

// Gives `a` and `b` equal halves of the room the splitter's other panes leave: a pane
// that was hidden comes back at its share instead of squeezing its neighbour.
void share_evenly(QSplitter* splitter, QWidget* a, QWidget* b);

void lay_out_heatmap_view(QWidget* view, QWidget* chooser, QWidget* compute, QLabel* note, QWidget* plot);

// Sequential (viridis-like) for non-negative data, diverging (blue-white-red) for signed.
QCPColorGradient sequential_gradient();
QCPColorGradient diverging_gradient();

// Saves a plot as PNG or PDF (vector), by the extension. False when writing fails.
bool save_plot(QCustomPlot* plot, const QString& path);

} // namespace hookscope::ui
