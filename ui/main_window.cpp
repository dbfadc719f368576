#include "ui/main_window.h"

#include "bridge/core/errors.h"
#include "bridge/core/system_memory.h"
#include "bridge/formats/hub_cache.h"
#include "bridge/io/export.h"
#include "bridge/model/activation_cache.h"
#include "ui/attention_view.h"
#include "ui/attribution_view.h"
#include "ui/heads_view.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_filter_proxy.h"
#include "ui/hook_panel.h"
#include "ui/lens_view.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/tensor_view.h"
#include "ui/token_view.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

namespace hookscope::ui {

namespace {

constexpr int kRecentModels = 8;

// How token ids are written: the tokenizer's display form, or [id] without one.
std::function<QString(int64_t)> labeler_for(std::shared_ptr<const Tokenizer> tokenizer) {
    return [tokenizer = std::move(tokenizer)](int64_t id) {
        return tokenizer ? QString::fromStdString(tokenizer->display(id)) : "[" + QString::number(id) + "]";
    };
}

} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("HookScope"));
    setObjectName("mainWindow");
    setAcceptDrops(true);
    runner_ = new ModelRunner(this);

    // Left: the model, then the prompt and its settings.
    auto* model_box = new QGroupBox(tr("Model"));
    model_info_ = new QLabel(tr("No model loaded. Open a checkpoint folder (Ctrl+O) or drop one here."));
    model_info_->setObjectName("modelInfo");
    model_info_->setWordWrap(true);
    model_info_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* open_button = new QPushButton(tr("Open…"));
    precision_ = new QComboBox;
    precision_->addItem("float32", static_cast<int>(Precision::Float32));
    precision_->addItem("bfloat16", static_cast<int>(Precision::BFloat16));
    precision_->setToolTip(tr("Compute precision for the next load: bfloat16 holds the weight matrices in "
                              "bfloat16 (faster, less exact); activations stay float32"));
    auto* model_row = new QHBoxLayout;
    model_row->addWidget(open_button);
    model_row->addWidget(new QLabel(tr("Precision")));
    model_row->addWidget(precision_);
    model_row->addStretch();
    auto* model_layout = new QVBoxLayout(model_box);
    model_layout->addWidget(model_info_);
    model_layout->addLayout(model_row);
    prompt_ = new PromptPanel;
    auto* left = new QWidget;
    auto* left_layout = new QVBoxLayout(left);
    left_layout->addWidget(model_box);
    left_layout->addWidget(prompt_, 1);
    auto* left_dock = new QDockWidget(tr("Model and prompt"), this);
    left_dock->setObjectName("promptDock");
    left_dock->setWidget(left);
    addDockWidget(Qt::LeftDockWidgetArea, left_dock);

    // Middle: the tokens above the views. Right: the hook tree.
    tokens_ = new TokenView;
    tensor_view_ = new TensorView;
    attention_ = new AttentionView;
    residual_ = new ResidualView;

    tabs_ = new QTabWidget;
    tabs_->setObjectName("viewTabs");
    tabs_->addTab(attention_, tr("&Attention"));
    tabs_->addTab(tensor_view_, tr("&Tensor"));
    tabs_->addTab(residual_, tr("Residual &norms"));
    heads_ = new HeadsView;
    tabs_->addTab(heads_, tr("&Heads"));
    lens_ = new LensView;
    tabs_->addTab(lens_, tr("&Logit lens"));
    attribution_view_ = new AttributionView;
    tabs_->addTab(attribution_view_, tr("Attri&bution"));
    auto* middle = new QSplitter(Qt::Vertical);
    middle->setObjectName("middleSplitter");
    middle->addWidget(tokens_);
    middle->addWidget(tabs_);
    middle->setStretchFactor(0, 1);
    middle->setStretchFactor(1, 4);
    setCentralWidget(middle);
    hooks_ = new HookPanel;
    auto* right_dock = new QDockWidget(tr("Hook points"), this);
    right_dock->setObjectName("hookDock");
    right_dock->setWidget(hooks_);
    addDockWidget(Qt::RightDockWidgetArea, right_dock);
    resizeDocks({left_dock, right_dock}, {300, 440}, Qt::Horizontal);

    status_ = new QLabel;
    status_->setObjectName("statusText");
    speed_ = new QLabel;
    progress_ = new QProgressBar;
    progress_->setMaximumWidth(200);
    progress_->hide();
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(speed_);
    statusBar()->addPermanentWidget(progress_);

    build_menus();
    connect(open_button, &QPushButton::clicked, this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Open a checkpoint folder"));
        if (!folder.isEmpty()) open_model(folder);
    });
    connect(prompt_, &PromptPanel::generateRequested, this, &MainWindow::generate);
    connect(prompt_, &PromptPanel::runRequested, this, &MainWindow::run_prompt);
    connect(prompt_, &PromptPanel::stopRequested, this, &MainWindow::stop);
    connect(prompt_, &PromptPanel::promptChanged, this, &MainWindow::update_estimate);
    connect(hooks_, &HookPanel::hookActivated, this, &MainWindow::show_hook);
    connect(runner_, &ModelRunner::busyChanged, prompt_, &PromptPanel::set_running);
    connect(runner_, &ModelRunner::modelLoaded, this, &MainWindow::on_model_loaded);
    connect(runner_, &ModelRunner::failed, this, [this](int id, const QString& what, const QString& message) {
        if (id == session_load_) session_load_ = 0;
        on_failed(what, message);
    });
    connect(runner_, &ModelRunner::started, this, [this](int, const std::vector<int64_t>& prompt) {
        // Labels from the model's tokenizer (a session may have left its own).
        tokens_->set_labeler(model_labeler());
        tokens_->clear_tokens();
        for (const int64_t id : prompt)
            tokens_->append(id, /*generated=*/false);
        progress_->setRange(0, static_cast<int>(std::max<int64_t>(max_new_tokens_, 1)));
        progress_->setValue(0);
        progress_->show();
        speed_->clear();
        set_status(max_new_tokens_ ? tr("Generating…") : tr("Running the prompt…"));
    });
    connect(runner_, &ModelRunner::tokenGenerated, this, [this](int, int64_t token, int64_t step, double elapsed) {
        tokens_->append(token, /*generated=*/true);
        progress_->setValue(static_cast<int>(step + 1));
        if (step > 0 && elapsed > 0) speed_->setText(tr("%1 tokens/s").arg((step + 1) / elapsed, 0, 'f', 1));
    });
    connect(runner_, &ModelRunner::recomputeStarted, this, [this] {
        progress_->setRange(0, 0); // busy: one forward pass, no steps to count
        set_status(tr("Capturing hook points over %1 tokens…").arg(tokens_->ids().size()));
    });
    connect(runner_, &ModelRunner::finished, this, [this](int, const RunResult& r) { on_finished(r); });
    connect(heads_, &HeadsView::computeRequested, this, [this] {
        if (runner_->busy() || !runner_->summary()) return;
        runner_->compute_head_scores();
        progress_->setRange(0, 0);
        progress_->show();
        set_status(tr("Scoring every head on repeated random sequences…"));
    });
    connect(runner_, &ModelRunner::headScoresReady, this, [this](int, const HeadScores& scores) {
        progress_->hide();
        heads_->set_scores(scores);
        set_status(tr("Head scores ready"));
    });
    connect(runner_, &ModelRunner::busyChanged, heads_->compute_button(),
            [this](bool busy) { heads_->compute_button()->setEnabled(!busy); });
    const auto open_head = [this](int64_t layer, int64_t head) {
        attention_->set_source("hook_pattern");
        attention_->show_head(layer, head);
        tabs_->setCurrentWidget(attention_);
    };
    connect(heads_, &HeadsView::headChosen, this, open_head);
    connect(attribution_view_, &AttributionView::headChosen, this, open_head);
    connect(lens_, &LensView::computeRequested, this, &MainWindow::compute_lens);
    connect(attribution_view_, &AttributionView::computeRequested, this, &MainWindow::compute_attribution);
    connect(tabs_, &QTabWidget::currentChanged, this, [this] {
        if (tabs_->currentWidget() == lens_ && !lens_->has_lens()) compute_lens();
    });
    connect(runner_, &ModelRunner::lensReady, this,
            [this](int, const std::vector<int64_t>& tokens, const std::vector<LensLayer>& layers) {
                progress_->hide();
                lens_->set_lens(tokens, layers, model_labeler(), lens_target_);
                set_status(tr("Logit lens over %1 positions").arg(tokens.size()));
                emit lensShown();
            });
    connect(runner_, &ModelRunner::attributionReady, this, [this](int, const Attribution& a) {
        progress_->hide();
        attribution_view_->set_attribution(a, model_labeler());
        set_status(tr("Logit attributed at position %1").arg(a.position));
        emit attributionShown();
    });
    for (QPushButton* button : {lens_->compute_button(), attribution_view_->compute_button()})
        connect(runner_, &ModelRunner::busyChanged, button, [button](bool busy) { button->setEnabled(!busy); });

    QSettings settings;
    prompt_->restore(settings);
    precision_->setCurrentIndex(settings.value("model/precision", 0).toInt());
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray());
    if (!settings.contains("window/geometry")) resize(1280, 800);
    set_status(tr("Ready"));
}

MainWindow::~MainWindow() = default;

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open model folder…"), this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Open a checkpoint folder"));
        if (!folder.isEmpty()) open_model(folder);
    });
    open->setShortcut(QKeySequence::Open);
    recent_menu_ = file->addMenu(tr("Open &recent"));
    hub_menu_ = file->addMenu(tr("Models in the local &Hugging Face cache"));
    connect(hub_menu_, &QMenu::aboutToShow, this, &MainWindow::refresh_hub_menu);
    file->addSeparator();
    QAction* export_action = file->addAction(tr("&Export hook points…"), this, &MainWindow::export_dialog);
    export_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    QAction* save_session = file->addAction(tr("&Save session…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save session"), "session.hookscope.safetensors",
                                                          tr("HookScope session (*.safetensors)"));
        if (!path.isEmpty()) save_session_to(path);
    });
    save_session->setShortcut(QKeySequence::Save);
    QAction* open_session_action = file->addAction(tr("Open sess&ion…"), this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Open session"), QString(), tr("HookScope session (*.safetensors)"));
        if (!path.isEmpty()) open_session(path);
    });
    open_session_action->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    QAction* open_cache_action = file->addAction(tr("Open &cache file…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(
            this, tr("Open a cache file"), QString(),
            tr("Activation caches (*.safetensors *.npz);;safetensors (*.safetensors);;NumPy (*.npz)"));
        if (!path.isEmpty()) open_cache(path);
    });
    open_cache_action->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
    QAction* save_plot = file->addAction(tr("Save &plot as PNG or PDF…"), this, &MainWindow::save_plot_dialog);
    save_plot->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    refresh_recent_menu();

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    QAction* generate = run->addAction(tr("&Generate"), this, &MainWindow::generate);
    generate->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    QAction* run_prompt = run->addAction(tr("&Run prompt"), this, &MainWindow::run_prompt);
    run_prompt->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return));
    QAction* stop = run->addAction(tr("&Stop"), this, &MainWindow::stop);
    stop->setShortcut(QKeySequence(Qt::Key_Escape));
    for (QAction* a : {generate, run_prompt, stop})
        a->setShortcutContext(Qt::ApplicationShortcut);
    QAction* filter = run->addAction(tr("&Filter hook points"), this, [this] {
        hooks_->filter_edit()->setFocus();
        hooks_->filter_edit()->selectAll();
    });
    filter->setShortcut(QKeySequence::Find);
    run->addSeparator();
    QAction* pin = run->addAction(tr("&Pin this run for comparison"), this, &MainWindow::pin_run);
    pin->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    run->addAction(tr("&Unpin"), this, &MainWindow::unpin_run);
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
    const auto precision = static_cast<Precision>(precision_->currentData().toInt());
    runner_->load(folder, precision);
    progress_->setRange(0, 0);
    progress_->show();
    set_status(tr("Loading %1…").arg(folder));
}

void MainWindow::set_precision(Precision precision) {
    precision_->setCurrentIndex(precision_->findData(static_cast<int>(precision)));
}

void MainWindow::on_model_loaded(int id, const ModelSummary& s) {
    progress_->hide();
    const QLocale locale;
    model_info_->setText(tr("<b>%1</b> · %2<br>%3 layers · %4 heads%5 · d_model %6 · d_head %7<br>"
                            "%8 parameters · vocabulary %9 · context %10<br>computing in %11 (weights stored as %12)")
                             .arg(s.architecture.toHtmlEscaped(), QFileInfo(s.folder).fileName().toHtmlEscaped())
                             .arg(s.layers)
                             .arg(s.heads)
                             .arg(s.kv_heads != s.heads ? tr(" (%1 key/value)").arg(s.kv_heads) : QString())
                             .arg(s.d_model)
                             .arg(s.d_head)
                             .arg(locale.toString(static_cast<qlonglong>(s.parameters)))
                             .arg(s.d_vocab)
                             .arg(s.n_ctx)
                             .arg(QString::fromLatin1(precision_name(s.precision).data()), s.storage_dtypes));
    model_info_->setToolTip(s.folder);
    const bool under_session = id == session_load_ && session_load_ != 0;
    session_load_ = 0;
    prompt_->set_tokenizer_available(s.tokenizer != nullptr);
    remember_recent(s.folder);
    setWindowTitle(tr("HookScope — %1").arg(QFileInfo(s.folder).fileName()));
    if (under_session) { // opened for a session: its views stay
        hooks_->set_planning_hooks(s.hooks);
        update_estimate();
        set_status(
            last_run_ && s.fingerprint != last_run_->fingerprint
                ? tr("Loaded %1, but its weights differ from the ones the session was recorded with").arg(s.folder)
                : tr("Loaded %1 under the session").arg(s.folder));
        return;
    }
    tokens_->set_labeler(labeler_for(s.tokenizer));
    clear_views();
    attention_->set_cache(nullptr, {}, s.layers, s.heads, s.kv_heads); // heads can be chosen before a run
    heads_->clear_scores();
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

void MainWindow::clear_views() {
    tokens_->clear_tokens();
    cache_.reset();
    last_run_.reset();
    tensor_view_->set_cache(nullptr, {}, {});
    attention_->set_cache(nullptr, {}, 0, 0, 0);
    residual_->set_cache(nullptr, {}, 0);
    lens_->clear();
    attribution_view_->clear();
}

bool MainWindow::generate() {
    return start(/*generate=*/true);
}

bool MainWindow::run_prompt() {
    return start(/*generate=*/false);
}

void MainWindow::select_hook(const QString& name) {
    const QModelIndex source = hooks_->tree_model()->index_of(name.toStdString());
    const QModelIndex index = hooks_->proxy()->mapFromSource(source);
    if (!index.isValid()) return;
    hooks_->tree()->scrollTo(index);
    hooks_->tree()->setCurrentIndex(index);
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

void MainWindow::show_run(const RunResult& r, const QStringList& labels, std::function<QString(int64_t)> labeler,
                          int64_t layers, int64_t heads, int64_t kv_heads) {
    cache_ = r.cache;
    last_run_ = r;
    hooks_->set_cache(cache_);
    tensor_view_->set_cache(cache_, labels, std::move(labeler));
    attention_->set_cache(cache_, labels, layers, heads, kv_heads);
    residual_->set_cache(cache_, labels, layers);
    lens_->clear();
    attribution_view_->clear();
    attribution_view_->set_positions(static_cast<int64_t>(cache_->tokens().size()));
}

void MainWindow::on_finished(const RunResult& r) {
    progress_->hide();
    const ModelSummary& model = *runner_->summary();
    RunResult run = r;
    run.fingerprint = model.fingerprint;
    run.model = model.folder;
    cache_ = r.cache; // token_labels() reads it
    show_run(run, token_labels(), labeler_for(model.tokenizer), model.layers, model.heads, model.kv_heads);
    QString summary =
        tr("%1 tokens (%2 prompt) · stop: %3").arg(r.tokens.size()).arg(r.prompt_length).arg(r.stop_reason);
    if (r.tokens_per_second) {
        summary += tr(" · %1 tokens/s").arg(*r.tokens_per_second, 0, 'f', 1);
        speed_->setText(tr("%1 tokens/s").arg(*r.tokens_per_second, 0, 'f', 1));
    }
    if (r.seed) summary += tr(" · seed %1").arg(*r.seed);
    summary += tr(" · captured in %1 s").arg(r.recompute_s, 0, 'f', 2);
    set_status(summary);
    emit cacheShown();
    if (tabs_->currentWidget() == lens_) compute_lens(); // the lens follows the run in view
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

void MainWindow::remember_recent(const QString& folder) {
    QSettings settings;
    QStringList recent = settings.value("models/recent").toStringList();
    recent.removeAll(folder);
    recent.prepend(folder);
    while (recent.size() > kRecentModels)
        recent.removeLast();
    settings.setValue("models/recent", recent);
    refresh_recent_menu();
}

void MainWindow::refresh_recent_menu() {
    recent_menu_->clear();
    const QStringList recent = QSettings().value("models/recent").toStringList();
    for (const QString& folder : recent)
        recent_menu_->addAction(folder, this, [this, folder] { open_model(folder); });
    recent_menu_->setEnabled(!recent.isEmpty());
}

void MainWindow::refresh_hub_menu() {
    hub_menu_->clear();
    const std::vector<CachedModel> models = list_cached_models();
    for (const CachedModel& m : models) {
        const QString id = QString::fromStdString(m.id);
        const QString label = m.architecture.empty() ? id : id + " (" + QString::fromStdString(m.architecture) + ")";
        hub_menu_->addAction(label, this, [this, id] { open_model(id); });
    }
    if (models.empty()) hub_menu_->addAction(tr("(none found)"))->setEnabled(false);
}

void MainWindow::update_estimate() {
    const auto& summary = runner_->summary();
    if (!summary) return;
    const int64_t planned =
        prompt_->planned_positions([this](const QString& text) { return prompt_token_count(text); });
    hooks_->set_planned_positions(std::min(planned, summary->n_ctx));
}

int64_t MainWindow::prompt_token_count(const QString& text) const {
    const auto& summary = runner_->summary();
    if (!summary || !summary->tokenizer) return 0;
    try {
        return static_cast<int64_t>(encode_prompt(*summary->tokenizer, summary->special, text.toStdString(),
                                                  prompt_->prepend_bos()->isChecked())
                                        .size());
    } catch (const std::exception&) {
        return 0;
    }
}

std::function<QString(int64_t)> MainWindow::model_labeler() const {
    return labeler_for(runner_->summary() ? runner_->summary()->tokenizer : nullptr);
}

void MainWindow::set_status(const QString& text) {
    status_->setText(text);
}

QStringList MainWindow::token_labels() const {
    QStringList labels;
    if (!cache_) return labels;
    const auto label = model_labeler();
    for (const int64_t id : cache_->tokens())
        labels << label(id);
    return labels;
}

void MainWindow::show_hook(const QString& name) {
    if (name.isEmpty()) return;
    tensor_view_->show_hook(name);
    // An attention hook also opens in the attention view, at its layer.
    const std::string text = name.toStdString();
    if (is_attention_matrix(text)) {
        attention_->set_source(name.section('.', -1)); // hook_pattern or hook_attn_scores
        attention_->show_head(HookPoint::parse(text)->layer, attention_->head());
        tabs_->setCurrentWidget(attention_);
    } else {
        tabs_->setCurrentWidget(tensor_view_);
    }
}

void MainWindow::closeEvent(QCloseEvent* event) {
    runner_->cancel();
    QSettings settings;
    prompt_->save(settings);
    settings.setValue("model/precision", precision_->currentIndex());
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    for (const QUrl& url : event->mimeData()->urls()) {
        QFileInfo info(url.toLocalFile());
        if (!info.exists()) continue;
        // A cache file opens as one; a checkpoint's own files open their folder.
        const bool cache_file =
            info.isFile() && (info.suffix() == "npz" || (info.suffix() == "safetensors" &&
                                                         !QFileInfo::exists(info.absolutePath() + "/config.json")));
        if (cache_file) {
            open_cache(info.absoluteFilePath());
        } else {
            open_model(info.isDir() ? info.absoluteFilePath() : info.absolutePath());
        }
        return;
    }
}

} // namespace hookscope::ui
