// MainWindow's analysis side: the cache size guard before a run, the logit lens and
// attribution requests, and the pinned run the views compare with.

#include "ui/main_window.h"

#include "bridge/analysis/view_data.h"
#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/model/activation_cache.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/hook_panel.h"
#include "ui/lens_view.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/tensor_view.h"

#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>

#include <algorithm>

namespace hookscope::ui {

void MainWindow::pin_run() {
    if (!cache_) {
        set_status(tr("Nothing to pin: generate or run a prompt first"));
        return;
    }
    pinned_ = cache_;
    const QStringList labels = token_labels();
    tensor_view_->set_pinned(pinned_, labels);
    attention_->set_pinned(pinned_, labels);
    residual_->set_pinned(pinned_);
    lens_->compare()->show();
    set_status(tr("Pinned this run (%1 positions): the tensor, attention, residual and lens views can compare "
                  "the next run with it")
                   .arg(pinned_->tokens().size()));
}

void MainWindow::unpin_run() {
    pinned_.reset();
    tensor_view_->set_pinned(nullptr, {});
    attention_->set_pinned(nullptr, {});
    residual_->set_pinned(nullptr);
    lens_->compare()->hide();
    lens_->compare()->set_mode(CompareMode::Current);
}

void MainWindow::set_cache_limit(std::optional<CacheLimit> limit) {
    cache_limit_set_ = true;
    cache_limit_ = limit;
}

bool MainWindow::ask_before_large_cache(const GenerationRequest& request, bool generate) {
    const ModelSummary& model = *runner_->summary();
    std::optional<NamesFilter> filter;
    try {
        filter.emplace(request.names_filter.toStdString());
    } catch (const FilterError&) {
        return false; // the run reports the bad filter
    }
    const int64_t prompt =
        request.token_ids ? static_cast<int64_t>(request.token_ids->size()) : prompt_token_count(request.text);
    const int64_t positions = planned_positions(prompt, generate ? request.max_new_tokens : 0, model.n_ctx);
    const auto too_large =
        check_cache_size(model.hooks, *filter, positions, cache_limit_set_ ? cache_limit_ : default_cache_limit());
    if (!too_large) return false;

    QMessageBox* box =
        message_box(QMessageBox::Warning, "cacheSizeDialog",
                    tr("This run would capture %1 of activations.")
                        .arg(QString::fromStdString(byte_size_text(static_cast<uint64_t>(too_large->bytes)))),
                    QString::fromStdString(too_large->describe()) + ".\n\n" +
                        tr("Capturing fewer hook points keeps the machine from swapping."),
                    QMessageBox::NoButton);
    if (!too_large->suggestions.empty()) {
        const FilterSuggestion& s = too_large->suggestions.front();
        const QString suggested = QString::fromStdString(s.filter);
        QPushButton* smaller =
            box->addButton(tr("Capture %1 (%2)")
                               .arg(suggested, QString::fromStdString(byte_size_text(static_cast<uint64_t>(s.bytes)))),
                           QMessageBox::AcceptRole);
        smaller->setObjectName("captureSuggested");
        connect(smaller, &QPushButton::clicked, this, [this, request, generate, suggested] {
            hooks_->capture_with(suggested);
            GenerationRequest smaller_request = request;
            smaller_request.names_filter = suggested;
            if (!runner_->busy()) launch(smaller_request, generate);
        });
    }
    QPushButton* edit = box->addButton(tr("Edit Filter…"), QMessageBox::ActionRole);
    edit->setObjectName("editFilter");
    connect(edit, &QPushButton::clicked, hooks_, &HookPanel::edit_capture_filter);
    QPushButton* anyway = box->addButton(tr("Capture Anyway"), QMessageBox::DestructiveRole);
    anyway->setObjectName("captureAnyway");
    connect(anyway, &QPushButton::clicked, this, [this, request, generate] {
        if (!runner_->busy()) launch(request, generate);
    });
    box->setDefaultButton(box->addButton(QMessageBox::Cancel));
    box->open(); // window-modal, never blocks the event loop
    set_status(tr("Waiting: the capture would take %1")
                   .arg(QString::fromStdString(byte_size_text(static_cast<uint64_t>(too_large->bytes)))));
    return true;
}

QString MainWindow::why_analysis_cannot_run() const {
    if (!runner_->summary()) {
        return tr("This view reads the residual stream through the model's weights: open the checkpoint that "
                  "made this run (Ctrl+O).");
    }
    const std::vector<int64_t>& tokens = cache_->tokens();
    if (std::any_of(tokens.begin(), tokens.end(), [](int64_t id) { return id < 0; })) {
        return tr("This run came from a file without token ids, so it cannot be run through the model again.");
    }
    return {};
}

void MainWindow::compute_lens() {
    if (runner_->busy() || !cache_ || cache_->tokens().empty()) return;
    if (const QString why = why_analysis_cannot_run(); !why.isEmpty()) {
        lens_->note()->setText(why);
        return;
    }
    std::optional<int64_t> target;
    if (const QString text = lens_->target()->text(); !text.isEmpty()) {
        QString error;
        target = parse_token(text, runner_->summary()->tokenizer.get(), runner_->summary()->d_vocab, &error);
        if (!target) {
            lens_->note()->setText(error);
            return;
        }
    }
    lens_target_ = target;
    const bool pinned = pinned_ && lens_->compare()->mode() == CompareMode::Pinned;
    runner_->compute_lens(pinned ? pinned_->tokens() : cache_->tokens(), 5, target);
    progress_->setRange(0, 0);
    progress_->show();
    set_status(tr("Reading every layer's residual stream through the unembedding…"));
}

void MainWindow::compute_attribution() {
    if (runner_->busy() || !cache_ || cache_->tokens().empty()) return;
    if (const QString why = why_analysis_cannot_run(); !why.isEmpty()) return attribution_view_->show_error(why);
    const ModelSummary& model = *runner_->summary();
    const std::vector<int64_t>& tokens = cache_->tokens();
    const auto position = static_cast<int64_t>(attribution_view_->position()->value());
    if (position >= static_cast<int64_t>(tokens.size())) return;
    QString error;
    std::optional<int64_t> target;
    if (const QString text = attribution_view_->target()->text(); !text.isEmpty()) {
        target = parse_token(text, model.tokenizer.get(), model.d_vocab, &error);
    } else if (position + 1 < static_cast<int64_t>(tokens.size())) {
        target = tokens[static_cast<std::size_t>(position + 1)]; // the token that came next
    } else if (const auto predicted = predicted_token(*cache_, position)) {
        target = predicted; // what the model predicts
    } else {
        error = tr("type a target token");
    }
    std::optional<int64_t> contrast;
    if (const QString text = attribution_view_->contrast()->text(); target && !text.isEmpty()) {
        contrast = parse_token(text, model.tokenizer.get(), model.d_vocab, &error);
        if (!contrast) target.reset();
    }
    if (!target) {
        attribution_view_->show_error(error);
        return;
    }
    attribution_view_->show_error({});
    runner_->compute_attribution(tokens, position, *target, contrast);
    progress_->setRange(0, 0);
    progress_->show();
    set_status(tr("Attributing the logit at position %1…").arg(position));
}

} // namespace hookscope::ui
