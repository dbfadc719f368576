#include "ui/logits_view.h"

#include "bridge/model/activation_cache.h"
#include "ui/prompt_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

namespace hookscope::ui {

namespace {

constexpr int kDefaultTopK = 5;
constexpr int kMostTopK = 100;

} // namespace

LogitsView::LogitsView(QWidget* parent) : QWidget(parent) {
    top_k_ = new QSpinBox(this);
    top_k_->setObjectName("logitsTopK");
    top_k_->setRange(1, kMostTopK);
    top_k_->setValue(kDefaultTopK);
    top_k_->setPrefix(tr("top "));
    top_k_->setToolTip(tr("How many of the most likely tokens each position shows"));
    search_ = new QLineEdit(this);
    search_->setObjectName("logitsSearch");
    search_->setPlaceholderText(tr("Find a token: its text (␣the) or its id"));
    search_->setClearButtonEnabled(true);
    search_->setToolTip(tr("Where a token stands at the selected position: its rank among the whole "
                           "vocabulary and its probability"));
    result_ = new QLabel(this);
    result_->setObjectName("logitsSearchResult");
    result_->setWordWrap(true);
    result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    result_->hide();
    table_ = new QTableWidget(this);
    table_->setObjectName("logitsTable");
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);

    auto* controls = new QHBoxLayout;
    controls->addWidget(top_k_);
    controls->addWidget(search_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(controls);
    layout->addWidget(result_);
    layout->addWidget(table_, 1);

    connect(top_k_, &QSpinBox::valueChanged, this, &LogitsView::fill_table);
    connect(search_, &QLineEdit::textChanged, this, &LogitsView::update_search);
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row, int, int previous_row, int) {
        if (row != previous_row) update_search();
    });
}

void LogitsView::set_logits(const at::Tensor& logits, const QStringList& position_labels, Labeler labeler) {
    const at::Tensor held = logits; // shares the cache's storage
    top_of_ = [held](int64_t k) { return top_tokens(held, k); };
    rank_of_ = [held](int64_t position, int64_t id) { return token_rank(held, position, id); };
    vocabulary_ = logits.dim() == 3 ? logits.size(2) : 0;
    position_labels_ = position_labels;
    labeler_ = std::move(labeler);
    table_->setRowCount(0); // a new run's table starts at its last position
    fill_table();
}

void LogitsView::clear() {
    top_of_ = nullptr;
    rank_of_ = nullptr;
    vocabulary_ = 0;
    position_labels_.clear();
    table_->setRowCount(0);
    fill_table();
}

void LogitsView::set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer) {
    tokenizer_ = std::move(tokenizer);
    update_search();
}

int64_t LogitsView::position() const {
    return table_->currentRow();
}

void LogitsView::select_position(int64_t position) {
    if (position >= 0 && position < table_->rowCount()) table_->setCurrentCell(static_cast<int>(position), 0);
}

void LogitsView::fill_table() {
    const int previous = table_->currentRow();
    const auto top = top_of_ ? top_of_(top_k_->value()) : std::vector<std::vector<TokenProbability>>{};
    const int rows = static_cast<int>(top.size());
    const int columns = top.empty() ? 0 : static_cast<int>(top.front().size());
    table_->blockSignals(true); // one search update below, not one per cell
    table_->clear();
    table_->setRowCount(rows);
    table_->setColumnCount(columns);
    QStringList headers;
    for (int k = 0; k < columns; ++k)
        headers << tr("#%1").arg(k + 1);
    table_->setHorizontalHeaderLabels(headers);
    QStringList names;
    for (int p = 0; p < rows; ++p) {
        names << position_name(p);
        for (int k = 0; k < static_cast<int>(top[static_cast<std::size_t>(p)].size()); ++k) {
            const TokenProbability& tp = top[static_cast<std::size_t>(p)][static_cast<std::size_t>(k)];
            auto* item = new QTableWidgetItem(QStringLiteral("%1  %2")
                                                  .arg(labeler_ ? labeler_(tp.id) : QString::number(tp.id))
                                                  .arg(tp.probability, 0, 'f', 3));
            item->setToolTip(tr("id %1, probability %2").arg(tp.id).arg(tp.probability, 0, 'g', 5));
            table_->setItem(p, k, item);
        }
    }
    table_->setVerticalHeaderLabels(names);
    table_->resizeColumnsToContents();
    if (rows > 0) table_->setCurrentCell(previous >= 0 && previous < rows ? previous : rows - 1, 0);
    table_->blockSignals(false);
    update_search();
}

void LogitsView::update_search() {
    const QString text = search_->text();
    if (text.trimmed().isEmpty() || !rank_of_ || position() < 0) {
        result_->clear();
        result_->hide();
        return;
    }
    result_->show();
    QString error;
    const std::optional<int64_t> id = parse_token(text, tokenizer_.get(), vocabulary_, &error);
    if (!id) {
        result_->setStyleSheet("color: #b00020;");
        result_->setText(tr("No such token: %1").arg(error));
        return;
    }
    const int64_t p = position();
    const TokenRank r = rank_of_(p, *id);
    result_->setStyleSheet({});
    result_->setText(tr("%1 (id %2) at position %3: rank %4 of %5, probability %6")
                         .arg(labeler_ ? labeler_(*id) : QString::number(*id))
                         .arg(*id)
                         .arg(position_name(p))
                         .arg(r.rank)
                         .arg(vocabulary_)
                         .arg(r.probability, 0, 'g', 4));
}

QString LogitsView::position_name(int64_t p) const {
    const QString label = p < position_labels_.size() ? position_labels_[static_cast<qsizetype>(p)] : QString();
    return label.isEmpty() ? QString::number(p) : QStringLiteral("%1 %2").arg(p).arg(label);
}

void LogitsView::save(QSettings& settings) const {
    settings.setValue("views/logitsTopK", top_k_->value());
}

void LogitsView::restore(const QSettings& settings) {
    top_k_->setValue(settings.value("views/logitsTopK", kDefaultTopK).toInt());
}

} // namespace hookscope::ui
