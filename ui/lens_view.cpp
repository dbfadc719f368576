#include "ui/lens_view.h"

#include "ui/heatmap_plot.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>

#include <cmath>

namespace hookscope::ui {

QString lens_row_label(const std::string& hook) {
    static const QRegularExpression pattern(R"(^blocks\.(\d+)\.hook_(resid_\w+)$)");
    const QRegularExpressionMatch m = pattern.match(QString::fromStdString(hook));
    return m.hasMatch() ? m.captured(2) + " " + m.captured(1) : QString::fromStdString(hook);
}

LensView::LensView(QWidget* parent) : QWidget(parent) {
    mode_ = new QComboBox(this);
    mode_->setObjectName("lensMode");
    mode_->addItem(tr("Top token's probability"), TopProbability);
    mode_->addItem(tr("Target's probability"), TargetProbability);
    mode_->addItem(tr("Target's rank"), TargetRank);
    target_ = new QLineEdit(this);
    target_->setObjectName("lensTarget");
    target_->setPlaceholderText(tr("target: next token"));
    target_->setToolTip(tr("A token id or text whose probability or rank to show at every position; empty for the "
                           "token that came next"));
    compute_ = new QPushButton(tr("Compute logit lens"), this);
    compute_->setObjectName("computeLens");
    compute_->setToolTip(tr("Reads every layer's residual stream through the final norm and the unembedding"));
    note_ = new QLabel(this);
    note_->setObjectName("lensNote");
    heatmap_ = new HeatmapPlot(this);
    heatmap_->setObjectName("lensHeatmap");
    heatmap_->set_axis_titles(tr("layer"), tr("position"));
    heatmap_->set_describer([this](int64_t row, int64_t col, double) { return describe(row, col); });
    compare_ = new CompareBox(this);
    for (const CompareMode m : {CompareMode::Difference, CompareMode::SideBySide}) // one grid, either run
        compare_->removeItem(compare_->findData(static_cast<int>(m)));
    auto* choosers = new QWidget(this);
    auto* row = new QHBoxLayout(choosers);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(mode_);
    row->addWidget(target_);
    row->addWidget(compare_);
    // Every cell keeps room for a few characters of its token; a long sequence scrolls.
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(heatmap_);
    lay_out_heatmap_view(this, choosers, compute_, note_, scroll);
    connect(target_, &QLineEdit::returnPressed, this, &LensView::computeRequested);
    connect(compare_, &QComboBox::currentIndexChanged, this, [this] {
        clear();
        emit computeRequested();
    });
    connect(mode_, &QComboBox::currentIndexChanged, this, &LensView::refresh);
    connect(compute_, &QPushButton::clicked, this, &LensView::computeRequested);
    clear();
}

void LensView::set_lens(std::vector<int64_t> tokens, std::vector<LensLayer> layers,
                        std::function<QString(int64_t)> labeler, std::optional<int64_t> target) {
    shown_target_ = target;
    tokens_ = std::move(tokens);
    layers_ = std::move(layers);
    labeler_ = std::move(labeler);
    note_->setText(
        tr("%1 layers × %2 positions. Each cell names the token that layer predicts next; hover for "
           "the top 5 and the probability and rank of the target (the token that came next, unless one is set).")
            .arg(layers_.size())
            .arg(tokens_.size()));
    refresh();
}

QString LensView::target_text() const {
    return target_->text();
}

bool LensView::shows_pinned() const {
    return compare_->mode() == CompareMode::Pinned;
}

void LensView::set_pinned_available(bool available) {
    compare_->setVisible(available);
    if (!available) compare_->set_mode(CompareMode::Current);
}

void LensView::show_note(const QString& text) {
    note_->setText(text);
}

void LensView::set_busy(bool busy) {
    if (busy && compute_->hasFocus()) setFocus(); // else Qt hands focus on to the next widget in the window
    compute_->setEnabled(!busy);
}

void LensView::clear() {
    tokens_.clear();
    layers_.clear();
    note_->setText(tr("What each layer would predict if the blocks after it were skipped: its residual stream "
                      "through the model's final norm and unembedding. Generate or run a prompt, then compute."));
    heatmap_->setMinimumWidth(0);
    heatmap_->set_matrix({}, {0, 1}, {}, {});
    heatmap_->set_cell_texts({});
}

void LensView::set_mode(Mode mode) {
    mode_->setCurrentIndex(mode_->findData(mode));
}

void LensView::refresh() {
    if (layers_.empty()) return;
    const int mode = mode_->currentData().toInt();
    const auto positions = static_cast<int64_t>(tokens_.size());
    Matrix m;
    m.rows = static_cast<int64_t>(layers_.size());
    m.cols = positions;
    QStringList rows, cols, texts;
    const double vocabulary_log = std::log10(1e6); // ranks past a million share the colour
    for (const LensLayer& layer : layers_) {
        rows << lens_row_label(layer.hook);
        for (int64_t p = 0; p < positions; ++p) {
            const auto i = static_cast<std::size_t>(p);
            double value = layer.prob(p, 0);
            QString text = labeler_(layer.id(p, 0));
            if (mode == TargetProbability) {
                value = layer.target_probs.empty() ? NAN : layer.target_probs[i];
            } else if (mode == TargetRank) {
                const int64_t rank = layer.target_ranks.empty() ? -1 : layer.target_ranks[i];
                // 1 for rank 0, falling with log10(1 + rank).
                value =
                    rank < 0 ? NAN : 1.0 - std::min(1.0, std::log10(1.0 + static_cast<double>(rank)) / vocabulary_log);
                text = rank < 0 ? QString() : QString::number(rank);
            }
            m.values.push_back(value);
            texts << text;
        }
    }
    for (const int64_t id : tokens_)
        cols << labeler_(id);
    constexpr int kMinCellWidth = 48, kAxesAndScale = 170; // pixels
    heatmap_->setMinimumWidth(static_cast<int>(positions) * kMinCellWidth + kAxesAndScale);
    heatmap_->set_matrix(std::move(m), {0.0, 1.0}, rows, cols);
    heatmap_->set_cell_texts(texts);
}

QString LensView::describe(int64_t row, int64_t col) const {
    if (row < 0 || row >= static_cast<int64_t>(layers_.size()) || col < 0 ||
        col >= static_cast<int64_t>(tokens_.size())) {
        return {};
    }
    const LensLayer& layer = layers_[static_cast<std::size_t>(row)];
    QString text = tr("%1 at position %2 (%3)")
                       .arg(QString::fromStdString(layer.hook))
                       .arg(col)
                       .arg(labeler_(tokens_[static_cast<std::size_t>(col)]));
    for (int64_t k = 0; k < std::min<int64_t>(layer.top_k, 5); ++k)
        text += tr("\n  %1  %2").arg(labeler_(layer.id(col, k))).arg(layer.prob(col, k), 0, 'f', 3);
    const auto i = static_cast<std::size_t>(col);
    const bool has_target = shown_target_ || col + 1 < static_cast<int64_t>(tokens_.size());
    if (has_target && !layer.target_ranks.empty()) {
        text += tr("\n%1 %2: probability %3, rank %4")
                    .arg(shown_target_ ? tr("target") : tr("next token"))
                    .arg(labeler_(shown_target_ ? *shown_target_ : tokens_[i + 1]))
                    .arg(layer.target_probs[i], 0, 'g', 3)
                    .arg(layer.target_ranks[i]);
    }
    return text;
}

} // namespace hookscope::ui
