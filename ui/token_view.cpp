#include "ui/token_view.h"

#include <QHelpEvent>
#include <QTextCursor>
#include <QToolTip>

namespace hookscope::ui {

namespace {
constexpr int kPositionProperty = QTextFormat::UserProperty + 1;
}

TokenView::TokenView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName("tokenView");
    setOpenLinks(false);
    setMouseTracking(true);
    setPlaceholderText(tr("Tokens of the prompt and of the generated text appear here."));
    labeler_ = [](int64_t id) { return "[" + QString::number(id) + "]"; };
}

void TokenView::clear_tokens() {
    clear();
    ids_.clear();
    prompt_length_ = 0;
}

void TokenView::append(int64_t id, bool generated) {
    const auto pos = static_cast<int64_t>(ids_.size());
    ids_.push_back(id);
    if (!generated) prompt_length_ = static_cast<int64_t>(ids_.size());
    QTextCharFormat format;
    const bool odd = pos % 2;
    format.setBackground(generated ? (odd ? QColor(0xc6dbef) : QColor(0xdeebf7))
                                   : (odd ? QColor(0xd9d9d9) : QColor(0xf0f0f0)));
    format.setForeground(QColor(0x202020));
    format.setProperty(kPositionProperty, static_cast<qlonglong>(pos));
    QTextCursor cursor(document());
    cursor.movePosition(QTextCursor::End);
    QString label = labeler_(id);
    // Line breaks show as \n in the label; start a new line after them as text would.
    cursor.insertText(label, format);
    if (label.endsWith(QStringLiteral("\\n"))) cursor.insertText("\n", QTextCharFormat());
}

QString TokenView::describe(int64_t pos) const {
    if (pos < 0 || pos >= static_cast<int64_t>(ids_.size())) return {};
    const int64_t id = ids_[static_cast<std::size_t>(pos)];
    return tr("position %1 · id %2 · %3 (%4)")
        .arg(pos)
        .arg(id)
        .arg(labeler_(id), pos < prompt_length_ ? tr("prompt") : tr("generated"));
}

int64_t TokenView::position_at(const QPoint& point) const {
    QTextCursor cursor = cursorForPosition(point);
    // The format at a cursor is the one of the character before it. The cursor is the
    // gap nearest the point: right of it, the character hovered is the next one.
    if (point.x() >= cursorRect(cursor).x() && !cursor.atBlockEnd()) cursor.movePosition(QTextCursor::NextCharacter);
    const QVariant pos = cursor.charFormat().property(kPositionProperty);
    return pos.isValid() ? pos.toLongLong() : -1;
}

bool TokenView::viewportEvent(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        const QString text = describe(position_at(help->pos()));
        if (text.isEmpty()) {
            QToolTip::hideText();
        } else {
            QToolTip::showText(help->globalPos(), text, this);
        }
        return true;
    }
    return QTextBrowser::viewportEvent(e);
}

} // namespace hookscope::ui
