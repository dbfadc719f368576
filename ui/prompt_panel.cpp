#include "ui/prompt_panel.h"

#include "bridge/core/errors.h"
#include "bridge/core/token_ids.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

namespace hookscope::ui {

std::optional<std::vector<int64_t>> parse_token_ids(const QString& text, QString* error) {
    std::vector<int64_t> ids;
    try {
        ids = hookscope::parse_token_ids(text.toStdString());
    } catch (const InputError& e) {
        if (error) *error = QString::fromStdString(e.what());
        return std::nullopt;
    }
    if (ids.empty()) {
        if (error) *error = QObject::tr("no token ids: type ids such as 50256 464 2068");
        return std::nullopt;
    }
    return ids;
}

std::optional<int64_t> parse_token(const QString& text, const Tokenizer* tokenizer, int64_t vocabulary,
                                   QString* error) {
    const auto fail = [error](const QString& why) {
        if (error) *error = why;
        return std::nullopt;
    };
    bool is_id = false;
    const qlonglong id = text.trimmed().toLongLong(&is_id);
    if (is_id) {
        try {
            check_token_id(id, vocabulary, "token id");
        } catch (const InputError& e) {
            return fail(QString::fromStdString(e.what()));
        }
        return id;
    }
    if (text.isEmpty()) return fail(QObject::tr("no token: type a token id or a token's text"));
    if (!tokenizer) return fail(QObject::tr("`%1` is not a token id, and this model has no tokenizer").arg(text));
    QString plain = text;
    plain.replace(QChar(0x2423), ' '); // the legible space the views show
    try {
        const std::vector<int64_t> ids = tokenizer->encode(plain.toStdString());
        if (ids.size() == 1) return ids.front();
        return fail(QObject::tr("`%1` is %2 tokens, not one").arg(text).arg(ids.size()));
    } catch (const std::exception& e) {
        return fail(QString::fromStdString(e.what()));
    }
}

PromptPanel::PromptPanel(QWidget* parent) : QWidget(parent) {
    prompt_ = new QPlainTextEdit(this);
    prompt_->setObjectName("prompt");
    prompt_->setPlaceholderText(tr("Prompt"));
    prompt_->setTabChangesFocus(true);
    token_mode_ = new QCheckBox(tr("Token ids"), this);
    token_mode_->setObjectName("tokenMode");
    token_mode_->setToolTip(tr("Read the prompt as token ids (\"50256 464 2068\"), fed exactly as given"));
    prepend_bos_ = new QCheckBox(tr("Prepend BOS"), this);
    prepend_bos_->setChecked(true);

    max_new_tokens_ = new QSpinBox(this);
    max_new_tokens_->setObjectName("maxNewTokens");
    max_new_tokens_->setRange(0, 100000);
    max_new_tokens_->setValue(10);
    greedy_ = new QCheckBox(tr("Greedy (argmax)"), this);
    greedy_->setObjectName("greedy");
    temperature_ = new QDoubleSpinBox(this);
    temperature_->setRange(0, 10);
    temperature_->setSingleStep(0.1);
    temperature_->setValue(1.0);
    top_k_ = new QSpinBox(this);
    top_k_->setRange(0, 1000000);
    top_k_->setSpecialValueText(tr("off"));
    top_p_ = new QDoubleSpinBox(this);
    top_p_->setRange(0, 1);
    top_p_->setSingleStep(0.05);
    top_p_->setDecimals(3);
    top_p_->setValue(0);
    top_p_->setSpecialValueText(tr("off"));
    seed_ = new QLineEdit(this);
    seed_->setObjectName("seed");
    seed_->setPlaceholderText(tr("random"));
    repetition_penalty_ = new QDoubleSpinBox(this);
    repetition_penalty_->setRange(0.01, 10);
    repetition_penalty_->setSingleStep(0.05);
    repetition_penalty_->setValue(1.0);
    freq_penalty_ = new QDoubleSpinBox(this);
    freq_penalty_->setRange(0, 10);
    freq_penalty_->setSingleStep(0.1);

    generate_ = new QPushButton(tr("Generate"), this);
    generate_->setObjectName("generate");
    generate_->setToolTip(tr("Generate, then capture the hook points over prompt and output (Ctrl+Return)"));
    run_ = new QPushButton(tr("Run prompt"), this);
    run_->setObjectName("runPrompt");
    run_->setToolTip(tr("Capture the hook points over the prompt alone (Ctrl+Shift+Return)"));
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setObjectName("stop");
    stop_->setToolTip(tr("Stop generating; the tokens so far are kept and captured (Esc)"));
    stop_->setEnabled(false);
    error_ = new QLabel(this);
    error_->setObjectName("promptError");
    error_->setStyleSheet("color: #b00020;");
    error_->setWordWrap(true);
    error_->hide();

    auto* modes = new QHBoxLayout;
    modes->addWidget(token_mode_);
    modes->addWidget(prepend_bos_);
    modes->addStretch();
    auto* form = new QFormLayout;
    form->addRow(tr("Max new tokens"), max_new_tokens_);
    form->addRow(QString(), greedy_);
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Top-k"), top_k_);
    form->addRow(tr("Top-p"), top_p_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Repetition penalty"), repetition_penalty_);
    form->addRow(tr("Frequency penalty"), freq_penalty_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(generate_);
    buttons->addWidget(run_);
    buttons->addWidget(stop_);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0); // the dock's margins are enough
    layout->addWidget(prompt_, 1);
    layout->addLayout(modes);
    layout->addWidget(error_);
    layout->addLayout(form);
    layout->addLayout(buttons);

    const auto sampling_enabled = [this] {
        const bool sampling = !greedy_->isChecked();
        for (QWidget* w : std::initializer_list<QWidget*>{temperature_, top_k_, top_p_, seed_})
            w->setEnabled(sampling);
    };
    connect(greedy_, &QCheckBox::toggled, this, sampling_enabled);
    connect(token_mode_, &QCheckBox::toggled, this, [this](bool ids) {
        prepend_bos_->setEnabled(!ids);
        prompt_->setPlaceholderText(ids ? tr("Token ids, e.g. 50256 464 2068") : tr("Prompt"));
        emit promptChanged();
    });
    connect(prompt_, &QPlainTextEdit::textChanged, this, [this] {
        error_->hide();
        emit promptChanged();
    });
    connect(max_new_tokens_, &QSpinBox::valueChanged, this, &PromptPanel::promptChanged);
    connect(generate_, &QPushButton::clicked, this, &PromptPanel::generateRequested);
    connect(run_, &QPushButton::clicked, this, &PromptPanel::runRequested);
    connect(stop_, &QPushButton::clicked, this, &PromptPanel::stopRequested);
}

QString PromptPanel::prompt_text() const {
    return prompt_->toPlainText();
}

bool PromptPanel::token_mode_on() const {
    return token_mode_->isChecked();
}

bool PromptPanel::prepends_bos() const {
    return prepend_bos_->isChecked();
}

void PromptPanel::set_prompt(const QString& text, bool token_mode) {
    token_mode_->setChecked(token_mode);
    prompt_->setPlainText(text);
}

void PromptPanel::show_error(const QString& message) {
    error_->setText(message);
    error_->show();
}

std::optional<GenerationRequest> PromptPanel::request() {
    GenerationRequest r;
    if (token_mode_->isChecked()) {
        QString error;
        r.token_ids = parse_token_ids(prompt_->toPlainText(), &error);
        if (!r.token_ids) {
            show_error(error);
            return std::nullopt;
        }
    } else {
        r.text = prompt_->toPlainText();
        if (r.text.isEmpty() && !prepend_bos_->isChecked()) {
            show_error(tr("the prompt is empty: type a prompt or turn on Prepend BOS"));
            return std::nullopt;
        }
    }
    r.prepend_bos = prepend_bos_->isChecked();
    r.max_new_tokens = max_new_tokens_->value();
    r.greedy = greedy_->isChecked();
    r.temperature = temperature_->value();
    if (top_k_->value() > 0) r.top_k = top_k_->value();
    if (top_p_->value() > 0) r.top_p = top_p_->value();
    if (const QString seed = seed_->text().trimmed(); !seed.isEmpty()) {
        bool ok = false;
        r.seed = seed.toULongLong(&ok);
        if (!ok) {
            show_error(tr("the seed `%1` is not a non-negative integer").arg(seed));
            return std::nullopt;
        }
    }
    r.repetition_penalty = repetition_penalty_->value();
    r.freq_penalty = freq_penalty_->value();
    error_->hide();
    return r;
}

void PromptPanel::set_running(bool running) {
    generate_->setEnabled(!running);
    run_->setEnabled(!running);
    stop_->setEnabled(running);
}

void PromptPanel::set_tokenizer_available(bool available) {
    if (!available) token_mode_->setChecked(true);
    token_mode_->setEnabled(available);
}

int64_t PromptPanel::planned_positions(const std::function<int64_t(const QString&)>& count_text_tokens) const {
    int64_t prompt = 0;
    if (token_mode_->isChecked()) {
        prompt = static_cast<int64_t>(
            prompt_->toPlainText().split(QRegularExpression("[\\s,]+"), Qt::SkipEmptyParts).size());
    } else if (count_text_tokens) {
        prompt = count_text_tokens(prompt_->toPlainText());
    }
    return prompt + max_new_tokens_->value();
}

void PromptPanel::save(QSettings& s) const {
    s.setValue("prompt/text", prompt_->toPlainText());
    s.setValue("prompt/tokenMode", token_mode_->isChecked());
    s.setValue("prompt/prependBos", prepend_bos_->isChecked());
    s.setValue("generation/maxNewTokens", max_new_tokens_->value());
    s.setValue("generation/greedy", greedy_->isChecked());
    s.setValue("generation/temperature", temperature_->value());
    s.setValue("generation/topK", top_k_->value());
    s.setValue("generation/topP", top_p_->value());
    s.setValue("generation/seed", seed_->text());
    s.setValue("generation/repetitionPenalty", repetition_penalty_->value());
    s.setValue("generation/freqPenalty", freq_penalty_->value());
}

void PromptPanel::restore_generation(const QString& settings_json) {
    const QJsonObject g = QJsonDocument::fromJson(settings_json.toUtf8()).object();
    if (g.value("mode").toString() != "generate") return; // a run of the prompt alone has no settings
    const auto optional_number = [&g](const char* key, double none) {
        return g.value(key).isDouble() ? g.value(key).toDouble() : none;
    };
    max_new_tokens_->setValue(g.value("max_new_tokens").toInt(max_new_tokens_->value()));
    greedy_->setChecked(!g.value("do_sample").toBool(true));
    temperature_->setValue(g.value("temperature").toDouble(1.0));
    top_k_->setValue(static_cast<int>(optional_number("top_k", 0)));
    top_p_->setValue(optional_number("top_p", 0));
    repetition_penalty_->setValue(g.value("repetition_penalty").toDouble(1.0));
    freq_penalty_->setValue(g.value("freq_penalty").toDouble(0.0));
    const QJsonValue seed = g.value("seed");
    seed_->setText(seed.isDouble()   ? QString::number(static_cast<qulonglong>(seed.toDouble()))
                   : seed.isString() ? seed.toString()
                                     : QString());
}

void PromptPanel::restore(const QSettings& s) {
    prompt_->setPlainText(s.value("prompt/text", prompt_->toPlainText()).toString());
    token_mode_->setChecked(s.value("prompt/tokenMode", false).toBool());
    prepend_bos_->setChecked(s.value("prompt/prependBos", true).toBool());
    max_new_tokens_->setValue(s.value("generation/maxNewTokens", 10).toInt());
    greedy_->setChecked(s.value("generation/greedy", false).toBool());
    temperature_->setValue(s.value("generation/temperature", 1.0).toDouble());
    top_k_->setValue(s.value("generation/topK", 0).toInt());
    top_p_->setValue(s.value("generation/topP", 0.0).toDouble());
    seed_->setText(s.value("generation/seed").toString());
    repetition_penalty_->setValue(s.value("generation/repetitionPenalty", 1.0).toDouble());
    freq_penalty_->setValue(s.value("generation/freqPenalty", 0.0).toDouble());
}

} // namespace hookscope::ui
