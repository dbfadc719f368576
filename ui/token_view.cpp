#include "ui/token_view.h"

#include <QHelpEvent>
#include <QMimeData>
#include <QTextBoundaryFinder>
#include <QTextCursor>
#include <QToolTip>

namespace hookscope::ui {

namespace {

constexpr int kPositionProperty = QTextFormat::UserProperty + 1;
// A line may break at a zero-width space (between tokens) and not at a word joiner
// (between the characters of one token).
constexpr char16_t kBreakHere = 0x200B, kNoBreak = 0x2060;

// `label` with a word joiner between each two of its graphemes.
QString unbreakable(const QString& label) {
    QString out;
    QTextBoundaryFinder graphemes(QTextBoundaryFinder::Grapheme, label);
    qsizetype start = 0;
    for (qsizetype end = graphemes.toNextBoundary(); end > 0; end = graphemes.toNextBoundary()) {
        if (start > 0) out += QChar(kNoBreak);
        out += label.mid(start, end - start);
        start = end;
    }
    return out;
}

} // namespace

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
    choices_.clear();
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
    if (pos > 0) cursor.insertText(QString(QChar(kBreakHere)), QTextCharFormat());
    cursor.insertText(unbreakable(label), format);
    // Line breaks show as \n in the label; start a new line after them as text would.
    if (label.endsWith(QStringLiteral("\\n"))) cursor.insertText("\n", QTextCharFormat());
}

QString TokenView::describe(int64_t pos) const {
    if (pos < 0 || pos >= static_cast<int64_t>(ids_.size())) return {};
    const int64_t id = ids_[static_cast<std::size_t>(pos)];
    QString text = tr("position %1 · id %2 · %3 (%4)")
                       .arg(pos)
                       .arg(id)
                       .arg(labeler_(id), pos < prompt_length_ ? tr("prompt") : tr("generated"));
    const int64_t step = pos - prompt_length_;
    if (step >= 0 && step < static_cast<int64_t>(choices_.size())) {
        const NewToken& chosen = choices_[static_cast<std::size_t>(step)];
        QStringList top;
        for (const auto& [alternative, logprob] : chosen.top)
            top << QStringLiteral("%1 %2").arg(labeler_(alternative)).arg(logprob, 0, 'f', 3);
        text += tr("\nlog-probability %1 · most likely: %2").arg(chosen.logprob, 0, 'f', 3).arg(top.join(", "));
    }
    return text;
}

int64_t TokenView::position_at(const QPoint& point) const {
    QTextCursor cursor = cursorForPosition(point);
    // The format at a cursor is the one of the character before it. The cursor is the
    // gap nearest the point: right of it, the character hovered is the next one.
    if (point.x() >= cursorRect(cursor).x() && !cursor.atBlockEnd()) cursor.movePosition(QTextCursor::NextCharacter);
    const QVariant pos = cursor.charFormat().property(kPositionProperty);
    return pos.isValid() ? pos.toLongLong() : -1;
}

QMimeData* TokenView::createMimeDataFromSelection() const {
    QString text = textCursor().selectedText();
    text.remove(QChar(kBreakHere)).remove(QChar(kNoBreak)).replace(QChar::ParagraphSeparator, '\n');
    auto* data = new QMimeData;
    data->setText(text);
    return data;
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
