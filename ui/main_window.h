#pragma once
// The main window: the model and prompt on the left, the token stream in the middle,
// the hook tree on the right. It wires the panels to the one ModelRunner and stays
// small; each panel is its own class.

#include "bridge/core/cache_budget.h"
#include "bridge/io/export.h"
#include "ui/runner/model_runner.h"

#include <QMainWindow>
#include <QMessageBox>

#include <functional>
#include <memory>

class QAction;
class QComboBox;
class QLabel;
class QMenu;
class QProgressBar;
class QTabWidget;

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

class AttentionView;
class AttributionView;
class HeadsView;
class HookPanel;
class LensView;
class PromptPanel;
class ResidualView;
class TensorView;
class TokenView;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Loads a checkpoint folder (or a hub id from the local cache) on the worker.
    void open_model(const QString& folder_or_id);
    // The precision the next load computes in.
    void set_precision(Precision precision);
    // Each returns whether a run started (false: busy, no model, or a bad prompt, shown).
    bool generate();
    bool run_prompt();
    void stop();
    // Writes hook points `names` of the current cache (all that the filter shows when
    // empty) to `path` (.npz or safetensors) off the GUI thread; exportFinished follows.
    void export_to(const QString& path, std::vector<std::string> names = {});
    // Saves the current run as a session (off the GUI thread); sessionSaved follows.
    void save_session_to(const QString& path);
    // Opens a session: its views at once, and its model (when the folder is there) for
    // further runs. sessionOpened follows, or errorShown.
    void open_session(const QString& path);
    // Opens a cache file without a model (see bridge/cache_file.h): an export of ours,
    // or a safetensors or .npz file saved from a TransformerLens cache; a session
    // opens as one. cacheOpened follows, or errorShown.
    void open_cache(const QString& path);

    // The most a recompute's cache may take (nullopt: no limit). Until set, each run is
    // checked against a share of the memory available when it starts. A run past the
    // limit asks first (the "cacheSizeDialog"): capture a smaller filter, edit the
    // filter, capture anyway, or cancel.
    void set_cache_limit(std::optional<CacheLimit> limit);

    ModelRunner* runner() const { return runner_; }
    PromptPanel* prompt_panel() const { return prompt_; }
    HookPanel* hook_panel() const { return hooks_; }
    // Keeps the run in view as the one the tensor, attention and residual views
    // compare later runs with (Run > Pin, Ctrl+P); unpin_run forgets it.
    void pin_run();
    void unpin_run();
    const std::shared_ptr<const ActivationCache>& pinned() const { return pinned_; }
    // Makes `name` the current row of the hook tree (and opens it in the views).
    void select_hook(const QString& name);
    TokenView* token_view() const { return tokens_; }
    TensorView* tensor_view() const { return tensor_view_; }
    AttentionView* attention_view() const { return attention_; }
    ResidualView* residual_view() const { return residual_; }
    HeadsView* heads_view() const { return heads_; }
    LensView* lens_view() const { return lens_; }
    AttributionView* attribution_view() const { return attribution_view_; }
    QTabWidget* view_tabs() const { return tabs_; }
    const std::shared_ptr<const ActivationCache>& cache() const { return cache_; }
    const std::optional<RunResult>& last_run() const { return last_run_; }

signals:
    // The recompute's cache is in the views.
    void cacheShown();
    // An error was reported to the user (in a dialog): what failed and why.
    void errorShown(const QString& what, const QString& message);
    // A model loaded with something wrong in it (NaN or infinite weights): `message`
    // lists each problem; a warning dialog shows it.
    void warningShown(const QString& message);
    // An export ended; `message` names the file or says why it failed.
    void exportFinished(bool ok, const QString& message);
    void sessionSaved(bool ok, const QString& message);
    void sessionOpened(const QString& path);
    void cacheOpened(const QString& path);
    // The logit lens, or an attribution, is in its view.
    void lensShown();
    void attributionShown();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void build_menus();
    bool start(bool generate);
    void launch(const GenerationRequest& request, bool generate);
    // Tokens `text` becomes with the prompt panel's BOS setting (0 without a tokenizer
    // or when it cannot be encoded).
    int64_t prompt_token_count(const QString& text) const;
    // When the request's cache would pass the limit: asks what to do (window-modal) and
    // returns true; the run starts later, if the user says so.
    bool ask_before_large_cache(const GenerationRequest& request, bool generate);
    void on_model_loaded(int id, const ModelSummary& summary);
    // What an export or a session records about the run in the views.
    ExportInfo run_export_info() const;
    void clear_views();
    void on_finished(const RunResult& result);
    // Puts a run's cache into every view; `labels` are the tokens' display forms.
    void show_run(const RunResult& result, const QStringList& labels, std::function<QString(int64_t)> labeler,
                  int64_t layers, int64_t heads, int64_t kv_heads);
    void on_failed(const QString& what, const QString& message);
    // A dialog named `name` (for tests) that deletes itself once closed; open() it.
    QMessageBox* message_box(QMessageBox::Icon icon, const char* name, const QString& text, const QString& details,
                             QMessageBox::StandardButtons buttons);
    void show_load_warnings(const ModelSummary& summary);
    void remember_recent(const QString& folder);
    void refresh_recent_menu();
    void refresh_hub_menu();
    void update_estimate();
    void set_status(const QString& text);
    void show_hook(const QString& name);
    // The analysis views: asked for by their buttons, or by showing the lens tab.
    // Puts a run read from a file into the views, labelled by the recorded token strings.
    void show_recorded_run(const RunResult& r, const std::vector<std::string>& token_strings);
    // Why the lens and the attribution cannot run on the run in view ("" when they can).
    QString why_analysis_cannot_run() const;
    void compute_lens();
    void compute_attribution();
    void export_dialog();
    void save_plot_dialog();
    QStringList token_labels() const;
    // How the loaded model's tokenizer writes a token ("[id]" without one).
    std::function<QString(int64_t)> model_labeler() const;
    // Runs `work` on the thread pool; `done` gets its error message ("" on success).
    void run_in_background(const QString& status, std::function<void()> work, std::function<void(QString)> done);

    ModelRunner* runner_ = nullptr;
    PromptPanel* prompt_ = nullptr;
    HookPanel* hooks_ = nullptr;
    TokenView* tokens_ = nullptr;
    TensorView* tensor_view_ = nullptr;
    AttentionView* attention_ = nullptr;
    ResidualView* residual_ = nullptr;
    HeadsView* heads_ = nullptr;
    LensView* lens_ = nullptr;
    AttributionView* attribution_view_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    QLabel* model_info_ = nullptr;
    QComboBox* precision_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* speed_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QMenu* recent_menu_ = nullptr;
    QMenu* hub_menu_ = nullptr;
    int session_load_ = 0; // the load a session started: its views stay when it lands
    int64_t max_new_tokens_ = 0;
    bool cache_limit_set_ = false;
    std::optional<CacheLimit> cache_limit_;
    std::shared_ptr<const ActivationCache> cache_, pinned_;
    std::optional<int64_t> lens_target_; // of the lens being computed
    std::optional<RunResult> last_run_;
};

} // namespace hookscope::ui
