#include "ui/run_views.h"

#include "bridge/analysis/view_data.h"
#include "bridge/core/hook_point.h"
#include "bridge/model/activation_cache.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/heads_view.h"
#include "ui/lens_view.h"
#include "ui/patching_view.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/tensor_view.h"
#include "ui/token_view.h"
#include "ui/unsteered_pane.h"

#include <QDialog>
#include <QLabel>
#include <QSettings>
#include <QShortcut>
#include <QTabWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace hookscope::ui {

namespace {

// How token ids are written: the tokenizer's display form, or [id] without one.
RunViews::Labeler labeler_for(std::shared_ptr<const Tokenizer> tokenizer) {
    return [tokenizer = std::move(tokenizer)](int64_t id) {
        return tokenizer ? QString::fromStdString(tokenizer->display(id)) : "[" + QString::number(id) + "]";
    };
}

} // namespace

RunViews::RunViews(QWidget* parent) : QSplitter(Qt::Vertical, parent) {
    setObjectName("middleSplitter");
    tokens_ = new TokenView;
    tensor_ = new TensorView;
    attention_ = new AttentionView;
    connect(attention_, &AttentionView::interventionRequested, this, &RunViews::interventionRequested);
    residual_ = new ResidualView;
    heads_ = new HeadsView;
    lens_ = new LensView;
    attribution_ = new AttributionView;
    tabs_ = new QTabWidget;
    tabs_->setObjectName("viewTabs");
    tabs_->addTab(attention_, tr("&Attention"));
    tabs_->addTab(tensor_, tr("&Tensor"));
    tabs_->addTab(residual_, tr("Residual &norms"));
    tabs_->addTab(heads_, tr("&Heads"));
    tabs_->addTab(lens_, tr("&Logit lens"));
    tabs_->addTab(attribution_, tr("Attri&bution"));
    // Patching in a window of its own: its four grids want room, and the tabs keep to
    // what fits beside the docks at 1280x800.
    patching_dialog_ = new QDialog(this);
    patching_dialog_->setObjectName("patchingDialog");
    patching_dialog_->setWindowTitle(tr("Activation patching: the pinned run into this one"));
    patching_ = new PatchingView;
    patching_->setObjectName("patchingView");
    auto* patching_layout = new QVBoxLayout(patching_dialog_);
    patching_layout->setContentsMargins(0, 0, 0, 0);
    patching_layout->addWidget(patching_);
    patching_dialog_->resize(960, 760);
    connect(patching_, &PatchingView::patchingRequested, this, &RunViews::patchingRequested);
    connect(patching_, &PatchingView::cancelRequested, this, &RunViews::patchingCancelRequested);
    connect(patching_, &PatchingView::interventionRequested, this, &RunViews::interventionRequested);
    intervention_note_ = new QLabel;
    intervention_note_->setObjectName("interventionNote");
    intervention_note_->setStyleSheet("color: #8a4b00; padding: 0 6px;");
    intervention_note_->hide();
    tabs_->setCornerWidget(intervention_note_, Qt::TopRightCorner);
    // Beside the tokens, while a steered generation is compared: the unsteered text.
    unsteered_ = new UnsteeredPane;
    unsteered_->hide();
    auto* top = new QSplitter(Qt::Horizontal);
    top->setObjectName("tokensSplitter");
    top->addWidget(tokens_);
    top->addWidget(unsteered_);
    addWidget(top);
    addWidget(tabs_);
    setStretchFactor(0, 1);
    setStretchFactor(1, 4);

    connect(heads_, &HeadsView::computeRequested, this, [this] {
        if (!busy_ && has_model_) emit headScoresRequested();
    });
    connect(heads_, &HeadsView::headChosen, this, &RunViews::open_head);
    connect(attribution_, &AttributionView::headChosen, this, &RunViews::open_head);
    connect(lens_, &LensView::computeRequested, this, &RunViews::request_lens);
    connect(attribution_, &AttributionView::computeRequested, this, &RunViews::request_attribution);
    connect(tabs_, &QTabWidget::currentChanged, this, [this] {
        if (tabs_->currentWidget() == lens_ && !lens_->has_lens()) request_lens();
    });
}

void RunViews::set_model(const ModelSummary* summary) {
    has_model_ = summary != nullptr;
    tokenizer_ = summary ? summary->tokenizer : nullptr;
    vocabulary_ = summary ? summary->d_vocab : 0;
    tensor_->set_tokenizer(tokenizer_);
    patching_->set_tokenizer(tokenizer_, vocabulary_);
}

void RunViews::save(QSettings& settings) const {
    tensor_->save(settings);
}

void RunViews::restore(const QSettings& settings) {
    tensor_->restore(settings);
}

void RunViews::reset_for(const ModelSummary& summary) {
    set_model(&summary);
    tokens_->set_labeler(model_labeler());
    clear();
    attention_->set_cache(nullptr, {}, summary.layers, summary.heads, summary.kv_heads); // heads chosen before a run
    heads_->clear_scores();
}

void RunViews::set_busy(bool busy) {
    busy_ = busy;
    heads_->set_busy(busy);
    lens_->set_busy(busy);
    attribution_->set_busy(busy);
    patching_->set_busy(busy);
}

void RunViews::clear() {
    tokens_->clear_tokens();
    cache_.reset();
    update_patching_runs();
    tensor_->set_cache(nullptr, {}, {});
    attention_->set_cache(nullptr, {}, 0, 0, 0);
    residual_->set_cache(nullptr, {}, 0);
    lens_->clear();
    attribution_->clear();
}

void RunViews::start_run(const std::vector<int64_t>& prompt) {
    tokens_->set_labeler(model_labeler()); // a session may have left its own
    tokens_->clear_tokens();
    for (const int64_t id : prompt)
        tokens_->append(id, /*generated=*/false);
}

void RunViews::append_token(int64_t id) {
    tokens_->append(id, /*generated=*/true);
}

void RunViews::set_choices(std::vector<NewToken> generated) {
    tokens_->set_choices(std::move(generated));
}

int64_t RunViews::token_count() const {
    return static_cast<int64_t>(tokens_->ids().size());
}

void RunViews::show_recorded_tokens(const std::vector<int64_t>& tokens, int64_t prompt_length, Labeler labeler) {
    tokens_->set_labeler(std::move(labeler));
    tokens_->clear_tokens();
    for (std::size_t i = 0; i < tokens.size(); ++i)
        tokens_->append(tokens[i], static_cast<int64_t>(i) >= prompt_length);
}

void RunViews::show_run(std::shared_ptr<const ActivationCache> cache, const QStringList& labels, Labeler labeler,
                        int64_t layers, int64_t heads, int64_t kv_heads) {
    cache_ = std::move(cache);
    tensor_->set_cache(cache_, labels, std::move(labeler));
    attention_->set_cache(cache_, labels, layers, heads, kv_heads);
    residual_->set_cache(cache_, labels, layers);
    lens_->clear();
    attribution_->clear();
    attribution_->set_positions(static_cast<int64_t>(cache_->tokens().size()));
    update_patching_runs();
}

void RunViews::show_patching() {
    patching_dialog_->show();
    patching_dialog_->raise();
    patching_dialog_->activateWindow();
}

void RunViews::update_patching_runs() {
    patching_->set_runs(pinned_ ? std::optional(pinned_->tokens()) : std::nullopt,
                        cache_ ? std::optional(cache_->tokens()) : std::nullopt);
}

void RunViews::set_interventions(const std::vector<std::string>& current, const std::vector<std::string>& pinned) {
    const auto count = [this](std::size_t n) {
        return n == 1 ? tr("with 1 intervention") : tr("with %1 interventions").arg(n);
    };
    const auto list = [](const std::vector<std::string>& specs) {
        QStringList lines;
        for (const std::string& s : specs)
            lines << QString::fromStdString(s);
        return lines.join('\n');
    };
    QStringList parts, tips;
    if (!current.empty()) {
        parts << tr("This run %1").arg(count(current.size()));
        tips << tr("This run:\n%1").arg(list(current));
    }
    if (!pinned.empty()) {
        parts << tr("pinned run %1").arg(count(pinned.size()));
        tips << tr("The pinned run:\n%1").arg(list(pinned));
    }
    intervention_note_->setText(parts.join(QStringLiteral(" · ")));
    intervention_note_->setToolTip(tips.join(QStringLiteral("\n\n")));
    intervention_note_->setVisible(!parts.isEmpty());
}

void RunViews::refresh_lens_if_shown() {
    if (tabs_->currentWidget() == lens_) request_lens();
}

void RunViews::pin(std::shared_ptr<const ActivationCache> pinned, const QStringList& labels) {
    pinned_ = std::move(pinned);
    tensor_->set_pinned(pinned_, labels);
    attention_->set_pinned(pinned_, labels);
    residual_->set_pinned(pinned_);
    lens_->set_pinned_available(true);
    update_patching_runs();
}

void RunViews::unpin() {
    pinned_.reset();
    tensor_->set_pinned(nullptr, {});
    attention_->set_pinned(nullptr, {});
    residual_->set_pinned(nullptr);
    lens_->set_pinned_available(false);
    update_patching_runs();
}

void RunViews::show_hook(const QString& name) {
    if (name.isEmpty()) return;
    tensor_->show_hook(name);
    const std::string text = name.toStdString();
    if (is_attention_matrix(text)) {
        attention_->set_source(name.section('.', -1)); // hook_pattern or hook_attn_scores
        attention_->show_head(HookPoint::parse(text)->layer, attention_->head());
        tabs_->setCurrentWidget(attention_);
    } else {
        tabs_->setCurrentWidget(tensor_);
    }
}

void RunViews::open_head(int64_t layer, int64_t head) {
    attention_->set_source("hook_pattern");
    attention_->show_head(layer, head);
    tabs_->setCurrentWidget(attention_);
    attention_->setFocus(); // its keys ([ ] heads, { } layers) act at once
}

void RunViews::show_head_scores(const HeadScores& scores) {
    heads_->set_scores(scores);
}

void RunViews::show_lens(const std::vector<int64_t>& tokens, const std::vector<LensLayer>& layers) {
    lens_->set_lens(tokens, layers, model_labeler(), lens_target_);
}

void RunViews::show_attribution(const RunAttribution& attribution) {
    attribution_->set_attribution(attribution.attribution, model_labeler(), attribution.interventions);
}

void RunViews::show_patching_outcome(const PatchingOutcome& outcome) {
    const std::size_t n = outcome.interventions.size();
    patching_dialog_->setWindowTitle(
        n == 0 ? tr("Activation patching: the pinned run into this one")
               : tr("Activation patching: the pinned run into this one, both with %1 interventions").arg(n));
    patching_->show_outcome(outcome);
}

QStringList RunViews::token_labels(const std::vector<int64_t>& ids) const {
    QStringList labels;
    const Labeler label = model_labeler();
    for (const int64_t id : ids)
        labels << label(id);
    return labels;
}

RunViews::Labeler RunViews::model_labeler() const {
    return labeler_for(tokenizer_);
}

QCustomPlot* RunViews::current_plot() const {
    if (tabs_->currentWidget() == attention_) return attention_->heatmap();
    if (tabs_->currentWidget() == tensor_) return tensor_->current_plot();
    if (tabs_->currentWidget() == residual_) return residual_->plot();
    return nullptr;
}

QStringList RunViews::view_shortcuts() const {
    QStringList lines;
    for (const QShortcut* s : findChildren<QShortcut*>())
        lines << s->key().toString(QKeySequence::NativeText) + "\t" + s->whatsThis();
    return lines;
}

QString RunViews::why_analysis_cannot_run() const {
    if (!has_model_) {
        return tr("This view reads the residual stream through the model's weights: open the checkpoint that "
                  "made this run (Ctrl+O).");
    }
    const std::vector<int64_t>& tokens = cache_->tokens();
    if (std::any_of(tokens.begin(), tokens.end(), [](int64_t id) { return id < 0; })) {
        return tr("This run came from a file without token ids, so it cannot be run through the model again.");
    }
    return {};
}

void RunViews::request_lens() {
    if (busy_ || !cache_ || cache_->tokens().empty()) return;
    if (const QString why = why_analysis_cannot_run(); !why.isEmpty()) return lens_->show_note(why);
    std::optional<int64_t> target;
    if (const QString text = lens_->target_text(); !text.isEmpty()) {
        QString error;
        target = parse_token(text, tokenizer_.get(), vocabulary_, &error);
        if (!target) return lens_->show_note(error);
    }
    lens_target_ = target;
    const bool of_pinned = pinned_ && lens_->shows_pinned();
    emit lensRequested(of_pinned ? pinned_->tokens() : cache_->tokens(), target, of_pinned);
}

void RunViews::request_attribution() {
    if (busy_ || !cache_ || cache_->tokens().empty()) return;
    if (const QString why = why_analysis_cannot_run(); !why.isEmpty()) return attribution_->show_error(why);
    const std::vector<int64_t>& tokens = cache_->tokens();
    const int64_t position = attribution_->chosen_position();
    if (position >= static_cast<int64_t>(tokens.size())) return;
    QString error;
    std::optional<int64_t> target;
    if (const QString text = attribution_->target_text(); !text.isEmpty()) {
        target = parse_token(text, tokenizer_.get(), vocabulary_, &error);
    } else if (position + 1 < static_cast<int64_t>(tokens.size())) {
        target = tokens[static_cast<std::size_t>(position + 1)]; // the token that came next
    } else if (const auto predicted = predicted_token(*cache_, position)) {
        target = predicted; // what the model predicts
    } else {
        error = tr("type a target token");
    }
    std::optional<int64_t> contrast;
    if (const QString text = attribution_->contrast_text(); target && !text.isEmpty()) {
        contrast = parse_token(text, tokenizer_.get(), vocabulary_, &error);
        if (!contrast) target.reset();
    }
    if (!target) return attribution_->show_error(error);
    attribution_->show_error({});
    emit attributionRequested(tokens, position, *target, contrast);
}

} // namespace hookscope::ui
