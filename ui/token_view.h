#pragma once
// The sequence as tokens: prompt tokens on grey, generated ones on blue, alternating
// shades so that token boundaries show; hovering a token shows its position and id.

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

    // "position 3 · id 464 · ␣The" for the token at `pos`.
    QString describe(int64_t pos) const;
    // The position of the token drawn at `point` (viewport coordinates), or -1.
    int64_t position_at(const QPoint& point) const;

protected:
    bool viewportEvent(QEvent* e) override; // tooltips arrive at the viewport

private:
    Labeler labeler_;
    std::vector<int64_t> ids_;
    int64_t prompt_length_ = 0;
};

} // namespace hookscope::ui
