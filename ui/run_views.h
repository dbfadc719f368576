#pragma once
// The run in view: its tokens above a tab per view (attention, tensor, residual norms,
// heads, logit lens, attribution). It gives every view the run's cache, compares with
// a pinned run, opens hook points and heads where they belong, and turns the analysis
// views' controls into typed requests for the worker: what to compute is decided here,
// the window only passes it on.

#include "bridge/analysis/analysis.h"
#include "bridge/analysis/head_scores.h"
#include "ui/runner/model_runner.h"

#include <QSplitter>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

class QCustomPlot;
class QDialog;
class QLabel;
class QSettings;
class QTabWidget;

namespace hookscope {
class ActivationCache;
class Tokenizer;
} // namespace hookscope

namespace hookscope::ui {

class AttentionView;
class AttributionView;
class HeadsView;
class LensView;
class ResidualView;
class PatchingView;
class TensorView;
class TokenView;
class UnsteeredPane;

class RunViews : public QSplitter {
    Q_OBJECT

public:
    using Labeler = std::function<QString(int64_t)>;

    explicit RunViews(QWidget* parent = nullptr);

    // The loaded model (null: none): its tokenizer names tokens and reads typed targets.
    void set_model(const ModelSummary* summary);
    // A new model with no run yet: empty views, the attention view's layer and head
    // choosers sized for it.
    void reset_for(const ModelSummary& summary);
    // While the worker is busy the compute buttons are off and no request is made.
    void set_busy(bool busy);
    // Empties every view.
    void clear();
    // The views' own settings (the logits' number of tokens per position).
    void save(QSettings& settings) const;
    void restore(const QSettings& settings);

    // A run starting: its prompt's ids, named by the model's tokenizer; then each new token.
    void start_run(const std::vector<int64_t>& prompt);
    void append_token(int64_t id);
    // What generation said of each new token, for the token strip's tooltips.
    void set_choices(std::vector<NewToken> generated);
    // Tokens in the token view: the prompt and those generated so far.
    int64_t token_count() const;
    // The tokens of a run read from a file, named by `labeler`.
    void show_recorded_tokens(const std::vector<int64_t>& tokens, int64_t prompt_length, Labeler labeler);
    // A run's cache into every view; `labels` are its tokens' display forms.
    void show_run(std::shared_ptr<const ActivationCache> cache, const QStringList& labels, Labeler labeler,
                  int64_t layers, int64_t heads, int64_t kv_heads);
    // The lens follows the run in view: asks for it again when its tab is showing.
    void refresh_lens_if_shown();
    // The interventions (resolved SPECs) of the run in view and of the pinned run, said
    // beside the tabs so that every view shows them ("with 2 interventions").
    void set_interventions(const std::vector<std::string>& current, const std::vector<std::string>& pinned);
    QLabel* intervention_note() const { return intervention_note_; }
    PatchingView* patching_view() const { return patching_; }
    // Opens the Patching window (Run > Activation patching).
    void show_patching();
    QDialog* patching_dialog() const { return patching_dialog_; }

    // The run the tensor, attention, residual and lens views compare later runs with.
    void pin(std::shared_ptr<const ActivationCache> pinned, const QStringList& labels);
    void unpin();

    // A hook point in the tensor view; an attention matrix also in the attention view.
    void show_hook(const QString& name);
    // One head's attention pattern, in the attention view.
    void open_head(int64_t layer, int64_t head);

    void show_head_scores(const HeadScores& scores);
    void show_lens(const std::vector<int64_t>& tokens, const std::vector<LensLayer>& layers);
    void show_attribution(const RunAttribution& attribution);
    // A sweep's grids on the Patching page; its window's title says when the sweep had
    // interventions.
    void show_patching_outcome(const PatchingOutcome& outcome);

    // The display forms of `ids` by the model's tokenizer.
    QStringList token_labels(const std::vector<int64_t>& ids) const;
    // How the loaded model's tokenizer writes a token ("[id]" without one).
    Labeler model_labeler() const;
    // The plot of the view in front (attention, tensor or residual norms), or null.
    QCustomPlot* current_plot() const;
    // The views' own keys, "KEY<tab>what it does" each.
    QStringList view_shortcuts() const;

    TokenView* token_view() const { return tokens_; }
    // Beside the tokens: a steered generation's unsteered text (hidden otherwise).
    UnsteeredPane* unsteered_pane() const { return unsteered_; }
    TensorView* tensor_view() const { return tensor_; }
    AttentionView* attention_view() const { return attention_; }
    ResidualView* residual_view() const { return residual_; }
    HeadsView* heads_view() const { return heads_; }
    LensView* lens_view() const { return lens_; }
    AttributionView* attribution_view() const { return attribution_; }
    QTabWidget* tabs() const { return tabs_; }

signals:
    void headScoresRequested();
    // An intervention a view offers (e.g. the attention view's "Ablate this head").
    void interventionRequested(const QString& spec);
    // A patching sweep from the Patching page, and its Cancel.
    void patchingRequested(const hookscope::ui::PatchingJob& job);
    void patchingCancelRequested();
    // The logit lens over `tokens`, with `target` at every position (nullopt: the next
    // token); `of_pinned`: the tokens are the pinned run's, not those of the run in view.
    void lensRequested(const std::vector<int64_t>& tokens, std::optional<int64_t> target, bool of_pinned);
    // Direct logit attribution at `position` of `tokens`.
    void attributionRequested(const std::vector<int64_t>& tokens, int64_t position, int64_t target,
                              std::optional<int64_t> contrast);

private:
    void request_lens();
    // The Patching page's clean (pinned) and corrupted (in view) runs.
    void update_patching_runs();
    void request_attribution();
    // Why the lens and the attribution cannot run on the run in view ("" when they can).
    QString why_analysis_cannot_run() const;

    TokenView* tokens_ = nullptr;
    UnsteeredPane* unsteered_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    QLabel* intervention_note_ = nullptr;
    PatchingView* patching_ = nullptr;
    QDialog* patching_dialog_ = nullptr;
    TensorView* tensor_ = nullptr;
    AttentionView* attention_ = nullptr;
    ResidualView* residual_ = nullptr;
    HeadsView* heads_ = nullptr;
    LensView* lens_ = nullptr;
    AttributionView* attribution_ = nullptr;

    bool busy_ = false;
    bool has_model_ = false;
    std::shared_ptr<const Tokenizer> tokenizer_;
    int64_t vocabulary_ = 0;
    std::shared_ptr<const ActivationCache> cache_, pinned_;
    std::optional<int64_t> lens_target_; // of the lens being computed
};

} // namespace hookscope::ui
