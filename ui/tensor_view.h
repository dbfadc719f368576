#pragma once
// One captured hook point: a positions x features heatmap with the L2 norm of each
// position beside it; a head selector for per-head hooks; a bar per position for norm
// scales; the most likely tokens for the logits, with a search for any one token.

#include "ui/heatmap_plot.h"
#include "ui/run_compare.h"

#include <QWidget>

#include <memory>

class QLabel;
class QSettings;
class QSplitter;
class QSpinBox;
class QStackedWidget;
class QTableWidget;

namespace hookscope {
class ActivationCache;
class Tokenizer;
} // namespace hookscope

namespace hookscope::ui {

class LogitsView;

class TensorView : public QWidget {
    Q_OBJECT

public:
    // How a token id is written in the logits table.
    using Labeler = std::function<QString(int64_t id)>;

    explicit TensorView(QWidget* parent = nullptr);

    void set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, Labeler labeler);
    // A run to compare with (null: none); the compare box shows while there is one.
    void set_pinned(std::shared_ptr<const ActivationCache> pinned, QStringList token_labels);
    // Shows hook `name` of the cache (an empty name clears the view).
    void show_hook(const QString& name);
    // What reads a token typed into the logits' search (null: token ids only).
    void set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer);
    // The logits' number of tokens per position.
    void save(QSettings& settings) const;
    void restore(const QSettings& settings);

    QString hook() const { return hook_; }
    HeatmapPlot* heatmap() const { return heatmap_; }
    // The pinned run's, beside heatmap() in the side-by-side comparison.
    HeatmapPlot* pinned_heatmap() const { return pinned_heatmap_; }
    QCustomPlot* bars() const { return bars_; }
    QTableWidget* logits_table() const;
    LogitsView* logits_view() const { return logits_; }
    QSpinBox* head() const { return head_; }
    CompareBox* compare() const { return compare_; }
    // The plot the user sees now (for saving).
    QCustomPlot* current_plot() const;

private:
    void refresh();
    void draw();
    // Only `title`, with the plots emptied: nothing shown belongs to another tensor.
    void show_nothing(const QString& title);
    // One bar per position, positions down like the heatmap's rows.
    void show_bars(const std::vector<double>& values, const QStringList& labels, const QString& title);
    // Position labels thinned and value ticks spaced to what the bars' plot has room
    // for. True when they changed (the plot is due a replot).
    bool fit_bar_labels();

    QLabel* title_ = nullptr;
    QSpinBox* head_ = nullptr;
    QStackedWidget* stack_ = nullptr;
    HeatmapPlot *heatmap_ = nullptr, *pinned_heatmap_ = nullptr; // this run's; the pinned run's beside it
    QCustomPlot* bars_ = nullptr;
    LogitsView* logits_ = nullptr;
    CompareBox* compare_ = nullptr;
    QSplitter* plots_ = nullptr;
    bool side_by_side_ = false; // the pinned run's heatmap was shown by the last draw
    std::shared_ptr<const ActivationCache> cache_, pinned_;
    QStringList pinned_labels_;
    QStringList labels_;
    Labeler labeler_;
    QString hook_;
    QStringList bar_labels_; // one per bar
    int64_t bar_step_ = 0;   // every bar_step_-th label drawn; 0: not fitted yet
};

} // namespace hookscope::ui
