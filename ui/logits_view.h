#pragma once
// A run's logits as the k most likely tokens at each position (k chosen, and
// remembered across sessions), and a search that says where any one token, typed as
// its text or its id, stands at the selected position: its rank among the whole
// vocabulary and its probability.

#include "bridge/analysis/view_data.h"

#include <QWidget>

#include <functional>
#include <memory>

class QLabel;
class QLineEdit;
class QSettings;
class QSpinBox;
class QTableWidget;

namespace hookscope {
class Tokenizer;
}

namespace hookscope::ui {

class LogitsView : public QWidget {
    Q_OBJECT

public:
    // How a token id is written in the table.
    using Labeler = std::function<QString(int64_t id)>;

    explicit LogitsView(QWidget* parent = nullptr);

    // Logits [1, pos, vocab]: one row per position, named by `position_labels`. The
    // selected position stays where it was when there still is one, else the last.
    void set_logits(const at::Tensor& logits, const QStringList& position_labels, Labeler labeler);
    // Nothing to show (no logits in view).
    void clear();
    // What reads a typed token's text (null: token ids only).
    void set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer);

    // The position the search looks at: the table's current row.
    int64_t position() const;
    void select_position(int64_t position);

    void save(QSettings& settings) const;
    void restore(const QSettings& settings);

    QSpinBox* top_k() const { return top_k_; }
    QLineEdit* search() const { return search_; }
    QLabel* search_result() const { return result_; }
    QTableWidget* table() const { return table_; }

private:
    void fill_table();
    void update_search();
    // Position `p` and its token ("3 fox"), or the number alone when it has no token label.
    QString position_name(int64_t p) const;

    QSpinBox* top_k_ = nullptr;
    QLineEdit* search_ = nullptr;
    QLabel* result_ = nullptr;
    QTableWidget* table_ = nullptr;
    std::shared_ptr<const Tokenizer> tokenizer_;
    Labeler labeler_;
    QStringList position_labels_;
    int64_t vocabulary_ = 0;
    // Computed from the logits in view (empty when none): the k most likely tokens at
    // every position, and one token's rank at one position.
    std::function<std::vector<std::vector<TokenProbability>>(int64_t k)> top_of_;
    std::function<TokenRank(int64_t position, int64_t id)> rank_of_;
};

} // namespace hookscope::ui
