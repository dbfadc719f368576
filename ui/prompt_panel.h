#pragma once
// The prompt and TransformerLens' generation settings, with Generate, Run and Stop.
// The prompt is text, or token ids in token-id mode ("50256 464 2068", commas or spaces).

#include "ui/runner/model_runner.h"

#include <QWidget>

#include <optional>

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSettings;
class QSpinBox;

namespace hookscope::ui {

// Token ids separated by spaces and/or commas. On a bad item, nullopt and `error` says
// which and where.
std::optional<std::vector<int64_t>> parse_token_ids(const QString& text, QString* error);
// One token as a user names it: an id ("464"), or a text that `tokenizer` (may be
// null) encodes as exactly one token ("␣the" or " the"). nullopt with `error` set
// when it is neither, or the id is not below `vocabulary`.
std::optional<int64_t> parse_token(const QString& text, const Tokenizer* tokenizer, int64_t vocabulary, QString* error);

class PromptPanel : public QWidget {
    Q_OBJECT

public:
    explicit PromptPanel(QWidget* parent = nullptr);

    // The request the settings describe, or nullopt with the reason shown inline.
    std::optional<GenerationRequest> request();
    // While a run is in progress, Generate and Run are off and Stop is on.
    void set_running(bool running);
    // Without a tokenizer only token-id mode can work.
    void set_tokenizer_available(bool available);
    // Positions the prompt would take (for the cache estimate), or 0 when unknown.
    int64_t planned_positions(const std::function<int64_t(const QString&)>& count_text_tokens) const;

    void save(QSettings& settings) const;
    void restore(const QSettings& settings);

    QString prompt_text() const;
    bool token_mode_on() const;
    bool prepends_bos() const;
    // A prompt as a session recorded it: text, or token ids in token-id mode.
    void set_prompt(const QString& text, bool token_mode);
    // The generation settings a run recorded (its settings JSON, as exports write it):
    // max new tokens, greedy or sampling, penalties, seed. A run of the prompt alone
    // recorded none, and leaves the settings as they are.
    void restore_generation(const QString& settings_json);

    QPlainTextEdit* prompt_edit() const { return prompt_; }
    QCheckBox* token_mode() const { return token_mode_; }
    QCheckBox* prepend_bos() const { return prepend_bos_; }
    QSpinBox* max_new_tokens() const { return max_new_tokens_; }
    QCheckBox* greedy() const { return greedy_; }
    QLineEdit* seed() const { return seed_; }
    QPushButton* generate_button() const { return generate_; }
    QPushButton* run_button() const { return run_; }
    QPushButton* stop_button() const { return stop_; }
    QLabel* error_label() const { return error_; }

signals:
    void generateRequested();
    void runRequested();
    void stopRequested();
    void promptChanged();

private:
    void show_error(const QString& message);

    QPlainTextEdit* prompt_ = nullptr;
    QCheckBox* token_mode_ = nullptr;
    QCheckBox* prepend_bos_ = nullptr;
    QSpinBox* max_new_tokens_ = nullptr;
    QCheckBox* greedy_ = nullptr;
    QDoubleSpinBox* temperature_ = nullptr;
    QSpinBox* top_k_ = nullptr;
    QDoubleSpinBox* top_p_ = nullptr;
    QLineEdit* seed_ = nullptr;
    QDoubleSpinBox* repetition_penalty_ = nullptr;
    QDoubleSpinBox* freq_penalty_ = nullptr;
    QPushButton* generate_ = nullptr;
    QPushButton* run_ = nullptr;
    QPushButton* stop_ = nullptr;
    QLabel* error_ = nullptr;
};

} // namespace hookscope::ui
