#pragma once
// The sequence as tokens: prompt tokens on grey, generated ones on blue, alternating
// shades so that token boundaries show; hovering a token shows its position and id.
// Lines wrap between tokens, never inside one (unless a token alone is wider than
// the view).

#include "bridge/model/generate.h"

#include <QTextBrowser>

#include <cstdint>
#include <functional>
#include <vector>

namespace hookscope::ui {

class TokenView : public QTextBrowser {
    Q_OBJECT

public:
    // How a token id is written (its display form, e.g. "␣the").
    using Labeler = std::function<QString(int64_t id)>;

    explicit TokenView(QWidget* parent = nullptr);

    void set_labeler(Labeler labeler) { labeler_ = std::move(labeler); }
    void clear_tokens();
    void append(int64_t id, bool generated);
    const std::vector<int64_t>& ids() const { return ids_; }
    int64_t prompt_length() const { return prompt_length_; }

    // What generation said of each new token (from the first after the prompt): its
    // log-probability and the 5 most likely tokens there, which describe() adds.
    void set_choices(std::vector<NewToken> generated) { choices_ = std::move(generated); }

    // "position 3 · id 464 · ␣The" for the token at `pos`; for a generated token, with
    // its log-probability and the alternatives.
    QString describe(int64_t pos) const;
    // The position of the token drawn at `point` (viewport coordinates), or -1.
    int64_t position_at(const QPoint& point) const;

    // Copied text without the invisible characters that steer line breaks.
    QMimeData* createMimeDataFromSelection() const override;

protected:
    bool viewportEvent(QEvent* e) override; // tooltips arrive at the viewport

private:
    Labeler labeler_;
    std::vector<int64_t> ids_;
    std::vector<NewToken> choices_;
    int64_t prompt_length_ = 0;
};

} // namespace hookscope::ui
