#pragma once
// "Without steering": beside the run's tokens, what the same prompt and seed generate
// without the run's `add:` interventions (its other interventions kept), streamed as
// it is generated. Shown only for a generation that compares.

#include <QWidget>

#include <cstdint>
#include <functional>
#include <vector>

class QLabel;
class QPlainTextEdit;

namespace hookscope::ui {

class UnsteeredPane : public QWidget {
    Q_OBJECT

public:
    using Labeler = std::function<QString(int64_t)>;

    explicit UnsteeredPane(QWidget* parent = nullptr);

    // A comparison starts: empty text; tokens are written as their text pieces
    // (`text_pieces`, a model with a tokenizer) or by `labeler`.
    void start(Labeler labeler, bool text_pieces);
    void append(int64_t id, const QString& piece);
    // The whole generation (prompt then new tokens) and its decoded text ("" without a
    // tokenizer), which replace what was streamed.
    void finish(const std::vector<int64_t>& tokens, int64_t prompt_length, const QString& text);

    // The new tokens shown.
    const std::vector<int64_t>& ids() const { return ids_; }
    QPlainTextEdit* text_edit() const { return text_; }

private:
    QLabel* title_ = nullptr;
    QPlainTextEdit* text_ = nullptr;
    Labeler labeler_;
    bool text_pieces_ = false;
    std::vector<int64_t> ids_;
};

} // namespace hookscope::ui
