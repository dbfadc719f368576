#include "ui/attention_view.h"

#include "bridge/analysis/view_data.h"
#include "bridge/model/activation_cache.h"

#include <QAction>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <cmath>
#include <utility>

namespace hookscope::ui {

QImage thumbnail_image(const Matrix& m, ColourRange range, int size) {
    QImage image(static_cast<int>(std::max<int64_t>(m.cols, 1)), static_cast<int>(std::max<int64_t>(m.rows, 1)),
                 QImage::Format_RGB32);
    image.fill(QColor(225, 225, 225));
    QCPColorGradient gradient = range.diverging ? diverging_gradient() : sequential_gradient(); // color() is not const
    const QCPRange r(range.lower, range.upper);
    for (int64_t row = 0; row < m.rows; ++row) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(static_cast<int>(row)));
        for (int64_t col = 0; col < m.cols; ++col) {
            const double v = m.at(row, col);
            if (!std::isnan(v)) line[col] = gradient.color(v, r);
        }
    }
    return image.scaled(size, size, Qt::IgnoreAspectRatio, Qt::FastTransformation);
}

AttentionView::AttentionView(QWidget* parent) : QWidget(parent) {
    source_ = new QComboBox(this);
    source_->addItem(tr("Pattern"), "hook_pattern");
    source_->addItem(tr("Scores"), "hook_attn_scores");
    layer_ = new QSpinBox(this);
    layer_->setObjectName("attentionLayer");
    layer_->setPrefix(tr("layer "));
    head_ = new QSpinBox(this);
    head_->setObjectName("attentionHead");
    head_->setPrefix(tr("head "));
    kv_label_ = new QLabel(this);
    message_ = new QLabel(this);
    message_->setWordWrap(true);
    heatmap_ = new HeatmapPlot(this);
    heatmap_->setObjectName("attentionHeatmap");
    heatmap_->set_axis_titles(tr("query"), tr("key"));
    heatmap_->setMinimumSize(200, 200);
    // The head in view, zeroed at its hook_z for the next run (a row in Interventions).
    ablate_head_ = new QAction(tr("Ablate this head"), this);
    ablate_head_->setObjectName("ablateHead");
    connect(ablate_head_, &QAction::triggered, this, [this] {
        emit interventionRequested(
            QStringLiteral("blocks.%1.attn.hook_z@%2=zero").arg(layer_->value()).arg(head_->value()));
    });
    heatmap_->setContextMenuPolicy(Qt::ActionsContextMenu);
    heatmap_->addAction(ablate_head_);
    thumbnails_ = new QListWidget(this);
    thumbnails_->setObjectName("headThumbnails");
    thumbnails_->setViewMode(QListView::IconMode);
    thumbnails_->setIconSize(QSize(72, 72));
    thumbnails_->setResizeMode(QListView::Adjust);
    thumbnails_->setMovement(QListView::Static);
    // Every head of the layer as a strip under the heatmap, which keeps the width.
    thumbnails_->setFlow(QListView::LeftToRight);
    thumbnails_->setWrapping(false);
    thumbnails_->setFixedHeight(120);

    auto* controls = new QHBoxLayout;
    controls->addWidget(source_);
    controls->addWidget(layer_);
    controls->addWidget(head_);
    controls->addWidget(kv_label_);
    controls->addStretch();
    compare_ = new CompareBox(this);
    controls->addWidget(compare_);
    split_ = new QSplitter(this);
    split_->setChildrenCollapsible(false);
    QSplitter* split = split_;
    split->addWidget(heatmap_);
    pinned_heatmap_ = new HeatmapPlot(this);
    pinned_heatmap_->setObjectName("pinnedAttentionHeatmap");
    pinned_heatmap_->set_axis_titles(tr("query (pinned run)"), tr("key"));
    pinned_heatmap_->setMinimumSize(200, 200);
    pinned_heatmap_->hide();
    split->addWidget(pinned_heatmap_);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(message_);
    layout->addWidget(split, 1);
    layout->addWidget(thumbnails_);

    const auto on_change = [this] {
        if (!updating_) refresh();
    };
    connect(source_, &QComboBox::currentIndexChanged, this, [this] {
        if (updating_) return;
        refresh_thumbnails();
        refresh();
    });
    connect(layer_, &QSpinBox::valueChanged, this, [this] {
        if (updating_) return;
        refresh_thumbnails();
        refresh();
    });
    connect(head_, &QSpinBox::valueChanged, this, on_change);
    connect(compare_, &QComboBox::currentIndexChanged, this, on_change);
    connect(thumbnails_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0 && !updating_) head_->setValue(row);
    });
    const auto step = [this](QSpinBox* box, int by) {
        box->setValue(box->value() + by < box->minimum()   ? box->maximum()
                      : box->value() + by > box->maximum() ? box->minimum()
                                                           : box->value() + by);
    };
    // Each key says what it does (whatsThis), for Help > Keyboard shortcuts.
    const auto key = [this](const char* sequence, const QString& what, std::function<void()> f) {
        auto* s = new QShortcut(QKeySequence(QString::fromLatin1(sequence)), this);
        s->setContext(Qt::WidgetWithChildrenShortcut);
        s->setWhatsThis(what);
        connect(s, &QShortcut::activated, this, std::move(f));
    };
    key("]", tr("next head (attention view)"), [=, this] { step(head_, 1); });
    key("[", tr("previous head (attention view)"), [=, this] { step(head_, -1); });
    key("}", tr("next layer (attention view)"), [=, this] { step(layer_, 1); });
    key("{", tr("previous layer (attention view)"), [=, this] { step(layer_, -1); });
    heatmap_->set_describer([this](int64_t row, int64_t col, double value) {
        const auto label = [this](int64_t i) {
            return i < labels_.size() ? QStringLiteral("%1 (%2)").arg(labels_[static_cast<qsizetype>(i)]).arg(i)
                                      : QString::number(i);
        };
        return QStringLiteral("%1 → %2: %3")
            .arg(label(row), label(col), std::isnan(value) ? tr("masked") : QString::number(value, 'g', 4));
    });
    message_->setText(tr("Generate or run a prompt to see attention."));
}

void AttentionView::set_cache(std::shared_ptr<const ActivationCache> cache, QStringList token_labels, int64_t layers,
                              int64_t heads, int64_t kv_heads) {
    cache_ = std::move(cache);
    labels_ = std::move(token_labels);
    heads_ = heads;
    kv_heads_ = kv_heads;
    updating_ = true;
    layer_->setRange(0, static_cast<int>(std::max<int64_t>(layers - 1, 0)));
    head_->setRange(0, static_cast<int>(std::max<int64_t>(heads - 1, 0)));
    updating_ = false;
    refresh_thumbnails();
    refresh();
}

void AttentionView::set_pinned(std::shared_ptr<const ActivationCache> pinned, QStringList token_labels) {
    pinned_ = std::move(pinned);
    pinned_labels_ = std::move(token_labels);
    compare_->setVisible(pinned_ != nullptr);
    if (!pinned_) compare_->set_mode(CompareMode::Current);
    refresh();
}

void AttentionView::show_head(int64_t layer, int64_t head) {
    updating_ = true;
    const bool new_layer = layer_->value() != layer;
    layer_->setValue(static_cast<int>(layer));
    head_->setValue(static_cast<int>(head));
    updating_ = false;
    if (new_layer) refresh_thumbnails();
    refresh();
}

void AttentionView::set_source(const QString& hook) {
    const int index = source_->findData(hook);
    if (index >= 0) source_->setCurrentIndex(index);
}

int64_t AttentionView::layer() const {
    return layer_->value();
}

int64_t AttentionView::head() const {
    return head_->value();
}

QString AttentionView::hook_name() const {
    return QStringLiteral("blocks.%1.attn.%2").arg(layer_->value()).arg(source_->currentData().toString());
}

void AttentionView::refresh() {
    try {
        draw();
    } catch (const std::exception& e) { // a tensor the view cannot read: say so, keep going
        message_->setText(tr("`%1` cannot be shown: %2").arg(hook_name(), QString::fromStdString(e.what())));
        message_->show();
    }
}

void AttentionView::draw() {
    pinned_heatmap_->hide(); // shown again below, for a side-by-side comparison
    const bool was_side_by_side = std::exchange(side_by_side_, false);
    if (!cache_) {
        message_->setText(tr("Generate or run a prompt to see attention."));
        message_->show();
        heatmap_->set_matrix({}, {0, 1}, {}, {});
        kv_label_->clear();
        return;
    }
    const std::string name = hook_name().toStdString();
    Compared shown;
    at::Tensor t;
    try {
        t = compared_tensor(name, compare_->mode(), *cache_, pinned_.get(), labels_, pinned_labels_, shown);
    } catch (const std::invalid_argument& e) {
        message_->setText(tr("%1 (names filter: `%2`).")
                              .arg(QString::fromStdString(e.what()), QString::fromStdString(cache_->names_filter())));
        message_->show();
        heatmap_->set_matrix({}, {0, 1}, {}, {});
        return;
    }
    if (head_->value() >= head_count(name, t)) {
        message_->setText(tr("`%1` has no head %2.").arg(QString::fromStdString(name)).arg(head_->value()));
        message_->show();
        heatmap_->set_matrix({}, {0, 1}, {}, {});
        return;
    }
    message_->setVisible(!shown.note.isEmpty());
    message_->setText(shown.note);
    Matrix m = hook_matrix(name, t, head_->value());
    ColourRange range = colour_range(m);
    const at::Tensor* beside = compare_->mode() == CompareMode::SideBySide && pinned_ ? pinned_->find(name) : nullptr;
    const bool side_by_side = beside != nullptr && head_->value() < head_count(name, *beside);
    pinned_heatmap_->setVisible(side_by_side);
    if (side_by_side && !was_side_by_side) share_evenly(split_, heatmap_, pinned_heatmap_);
    side_by_side_ = side_by_side;
    if (pinned_heatmap_->isVisibleTo(this)) { // the pinned run on the right, on the same colour scale
        Matrix pm = hook_matrix(name, *beside, head_->value());
        range = colour_range(m, pm);
        pinned_heatmap_->set_matrix(std::move(pm), range, pinned_labels_, pinned_labels_);
    }
    heatmap_->set_matrix(std::move(m), range, shown.labels, shown.labels);
    if (kv_heads_ > 0 && kv_heads_ != heads_) {
        kv_label_->setText(tr("reads kv head %1").arg(head_->value() / (heads_ / kv_heads_)));
    } else {
        kv_label_->clear();
    }
    updating_ = true;
    thumbnails_->setCurrentRow(head_->value());
    updating_ = false;
}

void AttentionView::refresh_thumbnails() {
    updating_ = true;
    thumbnails_->clear();
    try {
        add_thumbnails();
    } catch (const std::exception&) { // refresh() says what is wrong with the tensor
    }
    updating_ = false;
}

void AttentionView::add_thumbnails() {
    const at::Tensor* t = cache_ ? cache_->find(hook_name().toStdString()) : nullptr;
    if (t) {
        const int64_t heads = std::min(heads_, head_count(hook_name().toStdString(), *t));
        for (int64_t h = 0; h < heads; ++h) {
            const Matrix m = pooled_matrix(hook_name().toStdString(), *t, h, 72);
            auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(thumbnail_image(m, colour_range(m), 72))),
                                             tr("head %1").arg(h));
            thumbnails_->addItem(item);
        }
    }
}

} // namespace hookscope::ui
