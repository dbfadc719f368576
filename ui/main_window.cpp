#include "ui/main_window.h"

#include "bridge/analysis/view_data.h"
#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/formats/hub_cache.h"
#include "bridge/model/activation_cache.h"
#include "ui/analysis_requests.h"
#include "ui/cache_data.h"
#include "ui/cache_size_dialog.h"
#include "ui/collect_dialog.h"
#include "ui/dataset_jobs.h"
#include "ui/hook_panel.h"
#include "ui/intervention_panel.h"
#include "ui/model_panel.h"
#include "ui/patching_view.h"
#include "ui/prompt_panel.h"
#include "ui/run_files.h"
#include "ui/run_views.h"
#include "ui/steering.h"
#include "ui/steering_dialog.h"
#include "ui/token_view.h"

#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QProgressBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <map>

namespace hookscope::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("HookScope"));
    setObjectName("mainWindow");
    setAcceptDrops(true);
    runner_ = new ModelRunner(this);
    files_ = new RunFiles(this);

    // Left: the model, then the prompt and its settings.
    model_ = new ModelPanel;
    prompt_ = new PromptPanel;
    auto* left = new QWidget;
    auto* left_layout = new QVBoxLayout(left);
    left_layout->addWidget(model_);
    left_layout->addWidget(prompt_, 1);
    prompt_dock_ = new QDockWidget(tr("Model and prompt"), this);
    prompt_dock_->setObjectName("promptDock");
    prompt_dock_->setWidget(left);
    addDockWidget(Qt::LeftDockWidgetArea, prompt_dock_);

    // Middle: the tokens above the views. Right: the hook tree.
    views_ = new RunViews;
    setCentralWidget(views_);
    hooks_ = new HookPanel;
    hook_dock_ = new QDockWidget(tr("Hook points"), this);
    hook_dock_->setObjectName("hookDock");
    hook_dock_->setWidget(hooks_);
    addDockWidget(Qt::RightDockWidgetArea, hook_dock_);
    // At 1280 wide the hook tree shows a name, the shape, the size and all four
    // statistics side by side, and the middle keeps every tab in sight.
    resizeDocks({prompt_dock_, hook_dock_}, {270, 500}, Qt::Horizontal);
    // Below the hook tree: the interventions the next run applies.
    interventions_ = new InterventionPanel;
    intervention_dock_ = new QDockWidget(tr("Interventions"), this);
    intervention_dock_->setObjectName("interventionDock");
    intervention_dock_->setWidget(interventions_);
    addDockWidget(Qt::RightDockWidgetArea, intervention_dock_);
    splitDockWidget(hook_dock_, intervention_dock_, Qt::Vertical);
    resizeDocks({hook_dock_, intervention_dock_}, {600, 160}, Qt::Vertical);

    status_ = new QLabel;
    status_->setObjectName("statusText");
    run_summary_ = new QLabel;
    run_summary_->setObjectName("runSummary");
    speed_ = new QLabel;
    speed_->setObjectName("speedText");
    progress_ = new QProgressBar;
    progress_->setMaximumWidth(200);
    progress_->hide();
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(run_summary_);
    statusBar()->addPermanentWidget(speed_);
    statusBar()->addPermanentWidget(progress_);

    datasets_ = new DatasetJobs(runner_, this);
    statusBar()->addPermanentWidget(datasets_->progress_widget());
    connect(datasets_, &DatasetJobs::status, this, &MainWindow::set_status);
    connect(datasets_, &DatasetJobs::failed, this, &MainWindow::on_failed);

    steering_ = new Steering(runner_, views_, this);
    connect(steering_, &Steering::specMade, this, &MainWindow::add_intervention);
    build_menus();
    connect(model_, &ModelPanel::openRequested, this, &MainWindow::choose_model_folder);
    connect(prompt_, &PromptPanel::generateRequested, this, &MainWindow::generate);
    connect(prompt_, &PromptPanel::runRequested, this, &MainWindow::run_prompt);
    connect(prompt_, &PromptPanel::stopRequested, this, &MainWindow::stop);
    connect(prompt_, &PromptPanel::promptChanged, this, &MainWindow::update_estimate);
    connect(hooks_, &HookPanel::hookActivated, views_, &RunViews::show_hook);
    connect(hooks_, &HookPanel::interventionRequested, this, &MainWindow::add_intervention);
    connect(views_, &RunViews::interventionRequested, this, &MainWindow::add_intervention);
    connect(hooks_, &HookPanel::steeringRequested, this, &MainWindow::make_steering_vector);
    AnalysisRequests::Sources sources;
    sources.current_run = [this] { return last_run_ ? last_run_->applied_interventions() : AppliedInterventions{}; };
    sources.pinned_run = [this] { return pinned_applied_; };
    sources.panel = [this] { return AppliedInterventions{interventions_->applied(), intervention_base_, pinned_}; };
    auto* analysis = new AnalysisRequests(runner_, views_, std::move(sources), this);
    connect(analysis, &AnalysisRequests::working, this, &MainWindow::show_busy);
    connect(analysis, &AnalysisRequests::note, this, &MainWindow::set_status);
    connect(analysis, &AnalysisRequests::done, this, [this](const QString& status) {
        progress_->hide();
        set_status(status);
    });
    connect(analysis, &AnalysisRequests::lensShown, this, &MainWindow::lensShown);
    connect(analysis, &AnalysisRequests::attributionShown, this, &MainWindow::attributionShown);
    connect(analysis, &AnalysisRequests::patchingShown, this, &MainWindow::patchingShown);
    connect_runner();
    connect_files();

    QSettings settings;
    prompt_->restore(settings);
    model_->restore(settings);
    interventions_->restore(settings);
    views_->restore(settings);
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray());
    if (!settings.contains("window/geometry")) resize(1280, 800);
    set_status(tr("Ready"));
}

MainWindow::~MainWindow() = default;

void MainWindow::connect_runner() {
    connect(runner_, &ModelRunner::busyChanged, prompt_, &PromptPanel::set_running);
    connect(runner_, &ModelRunner::busyChanged, views_, &RunViews::set_busy);
    connect(runner_, &ModelRunner::modelLoaded, this, &MainWindow::on_model_loaded);
    connect(runner_, &ModelRunner::failed, this, [this](int id, const QString& what, const QString& message) {
        if (id == session_load_) session_load_ = 0;
        on_failed(what, message);
    });
    connect(runner_, &ModelRunner::started, this, [this](int, const std::vector<int64_t>& prompt) {
        views_->start_run(prompt);
        progress_->setRange(0, static_cast<int>(std::max<int64_t>(max_new_tokens_, 1)));
        progress_->setValue(0);
        progress_->show();
        speed_->clear();
        set_status(max_new_tokens_ ? tr("Generating…") : tr("Running the prompt…"));
    });
    connect(runner_, &ModelRunner::tokenGenerated, this, [this](int, int64_t token, int64_t step, double elapsed) {
        views_->append_token(token);
        progress_->setValue(static_cast<int>(step + 1));
        if (step > 0 && elapsed > 0) speed_->setText(tr("%1 tokens/s").arg((step + 1) / elapsed, 0, 'f', 1));
    });
    connect(runner_, &ModelRunner::recomputeStarted, this,
            [this] { show_busy(tr("Capturing hook points over %1 tokens…").arg(views_->token_count())); });
    connect(runner_, &ModelRunner::finished, this, [this](int, const RunResult& r) { on_finished(r); });
}

void MainWindow::set_about_text(const QString& text) {
    about_text_ = text;
}

void MainWindow::focus_filter() {
    hook_dock_->show();
    hook_dock_->raise();
    hooks_->focus_filter();
}

TokenView* MainWindow::token_view() const {
    return views_->token_view();
}
TensorView* MainWindow::tensor_view() const {
    return views_->tensor_view();
}
AttentionView* MainWindow::attention_view() const {
    return views_->attention_view();
}
ResidualView* MainWindow::residual_view() const {
    return views_->residual_view();
}
HeadsView* MainWindow::heads_view() const {
    return views_->heads_view();
}
LensView* MainWindow::lens_view() const {
    return views_->lens_view();
}
AttributionView* MainWindow::attribution_view() const {
    return views_->attribution_view();
}
QTabWidget* MainWindow::view_tabs() const {
    return views_->tabs();
}

void MainWindow::choose_model_folder() {
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Open a checkpoint folder"));
    if (!folder.isEmpty()) open_model(folder);
}

void MainWindow::open_model(const QString& folder_or_id) {
    QString folder = folder_or_id;
    try {
        folder = QString::fromStdString(resolve_model_folder(folder_or_id.toStdString()).string());
    } catch (const std::exception& e) {
        on_failed(tr("Opening %1").arg(folder_or_id), QString::fromStdString(e.what()));
        return;
    }
    session_load_ = 0; // a model opened by hand replaces the views
    runner_->load(folder, model_->precision());
    show_busy(tr("Loading %1…").arg(folder));
}

void MainWindow::set_precision(Precision precision) {
    model_->set_precision(precision);
}

void MainWindow::on_model_loaded(int id, const ModelSummary& s) {
    progress_->hide();
    model_->show_summary(s);
    const bool under_session = id == session_load_ && session_load_ != 0;
    session_load_ = 0;
    prompt_->set_tokenizer_available(s.tokenizer != nullptr);
    collect_action_->setEnabled(true);
    remember_recent(s.folder);
    setWindowTitle(tr("HookScope — %1").arg(QFileInfo(s.folder).fileName()));
    if (under_session) { // opened for a session: its views stay
        views_->set_model(&s);
        hooks_->set_planning_hooks(s.hooks);
        update_estimate();
        set_status(
            last_run_ && s.fingerprint != last_run_->fingerprint
                ? tr("Loaded %1, but its weights differ from the ones the session was recorded with").arg(s.folder)
                : tr("Loaded %1 under the session").arg(s.folder));
        return;
    }
    clear_run();
    if (pinned_ && pinned_fingerprint_ != s.fingerprint) unpin_run(); // another model's run compares with nothing
    views_->reset_for(s);
    hooks_->set_model_hooks(s.hooks);
    update_estimate();
    set_status(tr("Loaded %1").arg(s.folder));
    if (!s.warnings.empty()) show_load_warnings(s);
}

void MainWindow::show_load_warnings(const ModelSummary& s) {
    QStringList lines;
    for (const std::string& w : s.warnings)
        lines << QString::fromStdString(w);
    const QString message = lines.join('\n');
    set_status(tr("Loaded %1; %2 of its weights hold NaN or infinite values").arg(s.folder).arg(lines.size()));
    message_box(QMessageBox::Warning, "warningDialog",
                tr("%1 loaded, but some of its weights are not finite numbers.").arg(QFileInfo(s.folder).fileName()),
                message, QMessageBox::Ok)
        ->open(); // window-modal, never blocks the event loop
    emit warningShown(message);
}

void MainWindow::clear_run() {
    cache_.reset();
    last_run_.reset();
    run_summary_->clear();
    views_->clear();
    views_->set_interventions({}, pinned_applied_.specs);
}

bool MainWindow::generate() {
    return start(/*generate=*/true);
}

bool MainWindow::run_prompt() {
    return start(/*generate=*/false);
}

void MainWindow::select_hook(const QString& name) {
    hooks_->select_hook(name);
}

void MainWindow::stop() {
    if (runner_->busy()) {
        runner_->cancel();
        set_status(tr("Stopping after the current token…"));
    }
}

bool MainWindow::start(bool generate) {
    if (runner_->busy()) return false;
    if (!runner_->summary()) {
        on_failed(tr("Generating"), tr("no model is loaded: open a checkpoint folder first (Ctrl+O)"));
        return false;
    }
    std::optional<GenerationRequest> request = prompt_->request();
    if (!request) return false; // the panel shows why
    request->names_filter = hooks_->capture_filter();
    request->interventions = interventions_->applied();
    request->intervention_base = intervention_base_;
    request->pinned = pinned_;
    steering_->prepare(*request, generate);
    if (ask_before_large_cache(*request, generate)) return false;
    launch(*request, generate);
    return true;
}

void MainWindow::launch(const GenerationRequest& request, bool generate) {
    max_new_tokens_ = generate ? request.max_new_tokens : 0;
    if (generate) {
        runner_->generate(request);
    } else {
        runner_->run(request);
    }
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

    auto* dialog = new CacheSizeDialog(*too_large, this);
    connect(dialog, &CacheSizeDialog::captureSuggested, this, [this, request, generate](const QString& suggested) {
        hooks_->capture_with(suggested);
        GenerationRequest smaller = request;
        smaller.names_filter = suggested;
        if (!runner_->busy()) launch(smaller, generate);
    });
    connect(dialog, &CacheSizeDialog::editFilter, hooks_, &HookPanel::edit_capture_filter);
    connect(dialog, &CacheSizeDialog::captureAnyway, this, [this, request, generate] {
        if (!runner_->busy()) launch(request, generate);
    });
    dialog->open(); // window-modal, never blocks the event loop
    set_status(tr("Waiting: the capture would take %1")
                   .arg(QString::fromStdString(byte_size_text(static_cast<uint64_t>(too_large->bytes)))));
    return true;
}

void MainWindow::show_run(const RunResult& r, const QStringList& labels, std::function<QString(int64_t)> labeler,
                          int64_t layers, int64_t heads, int64_t kv_heads) {
    cache_ = r.cache;
    last_run_ = r;
    hooks_->set_cache(cache_);
    views_->show_run(cache_, labels, std::move(labeler), layers, heads, kv_heads);
    views_->set_interventions(r.interventions, pinned_applied_.specs);
}

void MainWindow::on_finished(const RunResult& r) {
    progress_->hide();
    const ModelSummary& model = *runner_->summary();
    RunResult run = r;
    run.fingerprint = model.fingerprint;
    run.model = model.folder;
    views_->set_choices(r.generated);
    show_run(run, views_->token_labels(r.cache->tokens()), views_->model_labeler(), model.layers, model.heads,
             model.kv_heads);
    QString summary =
        tr("%1 tokens (%2 prompt) · stop: %3").arg(r.tokens.size()).arg(r.prompt_length).arg(r.stop_reason);
    if (r.tokens_per_second) summary += tr(" · %1 tokens/s").arg(*r.tokens_per_second, 0, 'f', 1);
    if (r.seed) summary += tr(" · seed %1").arg(*r.seed);
    summary += tr(" · captured in %1 s").arg(r.recompute_s, 0, 'f', 2);
    if (r.interventions.size() == 1) summary += tr(" · with 1 intervention");
    if (r.interventions.size() > 1) summary += tr(" · with %1 interventions").arg(r.interventions.size());
    run_summary_->setText(summary);
    speed_->clear(); // the live rate; the summary has the run's
    set_status(tr("Done"));
    emit cacheShown();
    views_->refresh_lens_if_shown();
}

void MainWindow::show_recorded_run(const RunResult& r) {
    // Labels from the tokens' text as recorded (no model needed), else their ids, else
    // their positions.
    QStringList labels;
    std::map<int64_t, QString> by_id;
    for (std::size_t i = 0; i < r.tokens.size(); ++i) {
        if (i < r.token_strings.size()) {
            labels << QString::fromStdString(display_of_text(r.token_strings[i]));
        } else {
            labels << (r.tokens[i] < 0 ? QStringLiteral("#%1").arg(i) : QStringLiteral("[%1]").arg(r.tokens[i]));
        }
        by_id.emplace(r.tokens[i], labels.back());
    }
    const auto labeler = [by_id](int64_t id) {
        if (id < 0) return QStringLiteral("·"); // a file without token ids
        const auto it = by_id.find(id);
        return it != by_id.end() ? it->second : "[" + QString::number(id) + "]";
    };
    views_->show_recorded_tokens(r.tokens, r.prompt_length, labeler);
    const CacheShape shape = cache_shape(*r.cache);
    show_run(r, labels, labeler, shape.layers, shape.heads, shape.kv_heads);
}

void MainWindow::add_intervention(const QString& spec) {
    interventions_->add_spec(spec);
    intervention_dock_->show();
    intervention_dock_->raise();
    set_status(tr("Added %1: it applies to the next run").arg(spec));
}

SteeringDialog* MainWindow::make_steering_vector(const QString& hook) {
    const auto& summary = runner_->summary();
    if (!cache_ || !last_run_ || !summary || summary->fingerprint != last_run_->fingerprint) {
        on_failed(tr("Making a steering vector"),
                  tr("a vector is read from a run of the loaded model: generate or run a prompt first"));
        return nullptr;
    }
    return steering_->open_dialog({summary->hooks, cache_, last_run_->prompt_length, pinned_}, hook);
}

void MainWindow::pin_run() {
    if (!cache_) {
        set_status(tr("Nothing to pin: generate or run a prompt first"));
        return;
    }
    pinned_ = cache_;
    pinned_fingerprint_ = last_run_ ? last_run_->fingerprint : std::string();
    pinned_applied_ = last_run_ ? last_run_->applied_interventions() : AppliedInterventions{};
    views_->set_interventions(pinned_applied_.specs, pinned_applied_.specs);
    views_->pin(pinned_, views_->token_labels(pinned_->tokens()));
    update_intervention_limits();
    set_status(tr("Pinned this run (%1 positions): the tensor, attention, residual and lens views can compare "
                  "the next run with it")
                   .arg(pinned_->tokens().size()));
}

void MainWindow::unpin_run() {
    pinned_.reset();
    pinned_applied_ = {};
    views_->set_interventions(last_run_ ? last_run_->interventions : std::vector<std::string>{}, {});
    views_->unpin();
    update_intervention_limits();
}

void MainWindow::on_failed(const QString& what, const QString& message) {
    progress_->hide();
    set_status(tr("%1 failed").arg(what));
    message_box(QMessageBox::Critical, "errorDialog", tr("%1 failed.").arg(what), message, QMessageBox::Ok)
        ->open(); // window-modal, never blocks the event loop
    emit errorShown(what, message);
}

QMessageBox* MainWindow::message_box(QMessageBox::Icon icon, const char* name, const QString& text,
                                     const QString& details, QMessageBox::StandardButtons buttons) {
    auto* box = new QMessageBox(icon, tr("HookScope"), text, buttons, this);
    box->setObjectName(name);
    box->setInformativeText(details);
    box->setAttribute(Qt::WA_DeleteOnClose);
    return box;
}

CollectDialog* MainWindow::collect_activations() {
    return datasets_->open_collect_dialog(hooks_->filter_text());
}

void MainWindow::update_estimate() {
    const auto& summary = runner_->summary();
    if (!summary) return;
    const int64_t planned =
        prompt_->planned_positions([this](const QString& text) { return prompt_token_count(text); });
    hooks_->set_planned_positions(std::min(planned, summary->n_ctx));
    update_intervention_limits();
}

void MainWindow::update_intervention_limits() {
    InterventionLimits limits;
    limits.pinned = pinned_ != nullptr;
    hooks_->set_pinned_available(limits.pinned);
    if (const auto& summary = runner_->summary()) {
        limits.hooks = summary->hooks;
        limits.n_ctx = summary->n_ctx;
        const int64_t planned =
            prompt_->planned_positions([this](const QString& text) { return prompt_token_count(text); });
        const int64_t prompt = planned - prompt_->max_new_tokens()->value();
        if (prompt > 0) {
            limits.first_pass_length = prompt;
            limits.max_positions = std::min(planned, summary->n_ctx);
        }
    }
    interventions_->set_limits(std::move(limits));
}

int64_t MainWindow::prompt_token_count(const QString& text) const {
    const auto& summary = runner_->summary();
    if (!summary || !summary->tokenizer) return 0;
    try {
        return static_cast<int64_t>(
            encode_prompt(*summary->tokenizer, summary->special, text.toStdString(), prompt_->prepends_bos()).size());
    } catch (const std::exception&) {
        return 0;
    }
}

void MainWindow::set_status(const QString& text) {
    status_->setText(text);
}

void MainWindow::show_busy(const QString& status) {
    progress_->setRange(0, 0); // busy: no steps to count
    progress_->show();
    set_status(status);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    runner_->cancel();
    QSettings settings;
    prompt_->save(settings);
    model_->save(settings);
    interventions_->save(settings);
    views_->save(settings);
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    event->accept();
}

} // namespace hookscope::ui
