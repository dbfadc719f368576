#include "ui/unsteered_pane.h"

#include <QLabel>
#include <QPlainTextEdit>
#include <QTextCursor>
#include <QVBoxLayout>

#include <algorithm>

namespace hookscope::ui {

UnsteeredPane::UnsteeredPane(QWidget* parent) : QWidget(parent) {
    setObjectName("unsteeredPane");
    title_ = new QLabel(tr("Without steering"), this);
    title_->setObjectName("unsteeredTitle");
    title_->setToolTip(tr("The same prompt and seed without the add: interventions (the others kept)"));
    text_ = new QPlainTextEdit(this);
    text_->setObjectName("unsteeredText");
    text_->setReadOnly(true);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(title_);
    layout->addWidget(text_, 1);
}

void UnsteeredPane::start(Labeler labeler, bool text_pieces) {
    labeler_ = std::move(labeler);
    text_pieces_ = text_pieces;
    ids_.clear();
    text_->clear();
}

void UnsteeredPane::append(int64_t id, const QString& piece) {
    ids_.push_back(id);
    text_->moveCursor(QTextCursor::End);
    text_->insertPlainText(text_pieces_ ? piece : labeler_ ? labeler_(id) : QStringLiteral("[%1]").arg(id));
}

void UnsteeredPane::finish(const std::vector<int64_t>& tokens, int64_t prompt_length, const QString& text) {
    ids_.assign(tokens.begin() + std::min<int64_t>(prompt_length, static_cast<int64_t>(tokens.size())), tokens.end());
    if (text_pieces_) {
        text_->setPlainText(text);
        return;
    }
    QString labels;
    for (const int64_t id : ids_)
        labels += labeler_ ? labeler_(id) : QStringLiteral("[%1]").arg(id);
    text_->setPlainText(labels);
}

} // namespace hookscope::ui
