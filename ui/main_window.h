#pragma once
// The main window composes the pages: the model and the prompt on the left, the run's
// tokens and views in the middle, the hook tree on the right. It passes each page's
// typed requests to the one ModelRunner (or to RunFiles) and the results back to the
// pages; the pages own their widgets and their logic.

#include "bridge/core/cache_budget.h"
#include "bridge/io/export.h"
#include "ui/runner/model_runner.h"

#include <QDir>
#include <QMainWindow>
#include <QMessageBox>

#include <functional>
#include <memory>

class QDockWidget;
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
class CollectDialog;
class DatasetJobs;
class HeadsView;
class HookPanel;
class InterventionPanel;
class LensView;
class ModelPanel;
class PromptPanel;
class ResidualView;
class RunFiles;
class RunViews;
class Steering;
class SteeringDialog;
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
    // Opens a cache file without a model (see bridge/io/cache_file.h): an export of
    // ours, or a safetensors or .npz file saved from a TransformerLens cache; a session
    // opens as one. cacheOpened follows, or errorShown.
    // A folder holding manifest.json, or a manifest.json, opens as an activation
    // dataset instead: its summary in a dialog (DatasetJobs::datasetOpened follows).
    void open_cache(const QString& path);
    // Opens File > Collect activations… for the loaded model, its filter taken from the
    // hook panel; null, with an error shown, without a model or while it is busy.
    CollectDialog* collect_activations();

    // The most a recompute's cache may take (nullopt: no limit). Until set, each run is
    // checked against a share of the memory available when it starts. A run past the
    // limit asks first (CacheSizeDialog): capture a smaller filter, edit the filter,
    // capture anyway, or cancel.
    void set_cache_limit(std::optional<CacheLimit> limit);

    // Keeps the run in view as the one the tensor, attention and residual views
    // compare later runs with (Run > Pin, Ctrl+P); unpin_run forgets it.
    void pin_run();
    void unpin_run();
    // Opens Make steering vector on the run in view, `hook` chosen (Run menu, and the
    // hook tree's menu); its vector's SPEC joins the Interventions panel. Null, with an
    // error shown, without a run of the loaded model.
    SteeringDialog* make_steering_vector(const QString& hook = {});
    // Makes `name` the current row of the hook tree (and opens it in the views).
    void select_hook(const QString& name);
    // Shows the hook panel (reopening its dock if it was closed) with the cursor in its
    // filter box (Run > Filter hook points, Ctrl+F).
    void focus_filter();
    // What Help > About says: the version, the commit and the libraries in use.
    void set_about_text(const QString& text);

    ModelRunner* runner() const { return runner_; }
    PromptPanel* prompt_panel() const { return prompt_; }
    HookPanel* hook_panel() const { return hooks_; }
    InterventionPanel* intervention_panel() const { return interventions_; }
    DatasetJobs* datasets() const { return datasets_; }
    TokenView* token_view() const;
    TensorView* tensor_view() const;
    AttentionView* attention_view() const;
    ResidualView* residual_view() const;
    HeadsView* heads_view() const;
    LensView* lens_view() const;
    AttributionView* attribution_view() const;
    QTabWidget* view_tabs() const;
    const std::shared_ptr<const ActivationCache>& pinned() const { return pinned_; }
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
    // A patching sweep's grids are on the Patching page.
    void patchingShown();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void build_menus();
    void connect_runner();
    void connect_files();
    bool start(bool generate);
    void launch(const GenerationRequest& request, bool generate);
    // Tokens `text` becomes with the prompt panel's BOS setting (0 without a tokenizer
    // or when it cannot be encoded).
    int64_t prompt_token_count(const QString& text) const;
    // When the request's cache would pass the limit: asks what to do (window-modal) and
    // returns true; the run starts later, if the user says so.
    bool ask_before_large_cache(const GenerationRequest& request, bool generate);
    void on_model_loaded(int id, const ModelSummary& summary);
    void on_finished(const RunResult& result);
    void on_failed(const QString& what, const QString& message);
    // What an export or a session records about the run in the views.
    ExportInfo run_export_info() const;
    // Puts a run's cache into the views; `labels` are the tokens' display forms.
    void show_run(const RunResult& result, const QStringList& labels, std::function<QString(int64_t)> labeler,
                  int64_t layers, int64_t heads, int64_t kv_heads);
    // Puts a run read from a file into the views, labelled by the recorded token strings.
    void show_recorded_run(const RunResult& r);
    void clear_run();
    // A dialog named `name` (for tests) that deletes itself once closed; open() it.
    QMessageBox* message_box(QMessageBox::Icon icon, const char* name, const QString& text, const QString& details,
                             QMessageBox::StandardButtons buttons);
    void show_load_warnings(const ModelSummary& summary);
    void remember_recent(const QString& folder);
    void refresh_recent_menu();
    void refresh_hub_menu();
    void choose_model_folder();
    void update_estimate();
    // What the Interventions panel checks its rows against: the model, the next run's
    // positions and whether a run is pinned.
    void update_intervention_limits();
    // Adds a row to the Interventions panel and shows the panel.
    void add_intervention(const QString& spec);
    void set_status(const QString& text);
    // The progress bar as a busy indicator, with `status` beside it.
    void show_busy(const QString& status);
    void export_dialog();
    void save_plot_dialog();
    // Every keyboard shortcut of the menus and the views, in a dialog.
    void show_shortcuts();

    ModelRunner* runner_ = nullptr;
    RunFiles* files_ = nullptr;
    ModelPanel* model_ = nullptr;
    PromptPanel* prompt_ = nullptr;
    HookPanel* hooks_ = nullptr;
    RunViews* views_ = nullptr;
    QDockWidget* prompt_dock_ = nullptr;
    QDockWidget* hook_dock_ = nullptr;
    InterventionPanel* interventions_ = nullptr;
    Steering* steering_ = nullptr;
    DatasetJobs* datasets_ = nullptr;
    QAction* collect_action_ = nullptr; // on while a model is loaded
    QDockWidget* intervention_dock_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* run_summary_ = nullptr; // the run in view; other messages go to status_
    QLabel* speed_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QMenu* recent_menu_ = nullptr;
    QMenu* hub_menu_ = nullptr;
    int session_load_ = 0; // the load a session started: its views stay when it lands
    int64_t max_new_tokens_ = 0;
    bool cache_limit_set_ = false;
    std::optional<CacheLimit> cache_limit_;
    std::shared_ptr<const ActivationCache> cache_, pinned_;
    std::string pinned_fingerprint_;      // of the model that made the pinned run
    AppliedInterventions pinned_applied_; // the pinned run's, for its lens
    QString about_text_;
    std::optional<RunResult> last_run_;
    QString intervention_base_ = QDir::currentPath(); // relative intervention FILEs resolve against it
};

} // namespace hookscope::ui
