#pragma once
// Attention of one head: query x key heatmap with token labels, layer and head
// selectors (keyboard: [ and ] step heads, { and } step layers), every head of the
// layer as a thumbnail (click to open), hook_pattern or hook_attn_scores (masked cells
// drawn as masked). With grouped-query attention, the kv head each query head reads is
// named.

#include "ui/heatmap_plot.h"
#include "ui/run_compare.h"

#include <QWidget>

#include <memory>

class QAction;
class QComboBox;
class QLabel;
class QSplitter;
class QListWidget;
class QSpinBox;

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

class AttentionView : public QWidget {
    Q_OBJECT

public:
    explicit AttentionView(QWidget* parent = nullptr);

    // A new cache and the label of each of its tokens; kv_heads for the GQA label.
    void set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, int64_t layers,
                   int64_t heads, int64_t kv_heads);
    // A run to compare with (null: none); the compare box shows while there is one.
    void set_pinned(std::shared_ptr<const ActivationCache> pinned, QStringList token_labels);
    void show_head(int64_t layer, int64_t head);
    // "hook_pattern" or "hook_attn_scores".
    void set_source(const QString& hook);

    int64_t layer() const;
    int64_t head() const;
    QString hook_name() const; // e.g. "blocks.1.attn.hook_pattern"
    HeatmapPlot* heatmap() const { return heatmap_; }
    // The pinned run's, beside heatmap() in the side-by-side comparison.
    HeatmapPlot* pinned_heatmap() const { return pinned_heatmap_; }
    QListWidget* thumbnails() const { return thumbnails_; }
    QLabel* message() const { return message_; }
    QLabel* kv_label() const { return kv_label_; }
    CompareBox* compare() const { return compare_; }
    // "Ablate this head" (the heatmap's context menu): zero the head's hook_z.
    QAction* ablate_head_action() const { return ablate_head_; }

signals:
    // An intervention chosen here, as its SPEC text.
    void interventionRequested(const QString& spec);

private:
    void refresh();
    void draw();
    void refresh_thumbnails();
    void add_thumbnails();

    QComboBox* source_ = nullptr;
    QSpinBox* layer_ = nullptr;
    QSpinBox* head_ = nullptr;
    QLabel* kv_label_ = nullptr;
    QLabel* message_ = nullptr;
    HeatmapPlot* heatmap_ = nullptr;
    HeatmapPlot* pinned_heatmap_ = nullptr;
    QListWidget* thumbnails_ = nullptr;
    CompareBox* compare_ = nullptr;
    std::shared_ptr<const ActivationCache> cache_, pinned_;
    QStringList labels_, pinned_labels_;
    int64_t heads_ = 0, kv_heads_ = 0;
    QSplitter* split_ = nullptr;
    QAction* ablate_head_ = nullptr;
    bool side_by_side_ = false; // the pinned run's heatmap was shown by the last draw
    bool updating_ = false;
};

// A small image of `m` (one pixel per cell, scaled to `size`), coloured like the heatmap.
QImage thumbnail_image(const Matrix& m, ColourRange range, int size);

} // namespace hookscope::ui
