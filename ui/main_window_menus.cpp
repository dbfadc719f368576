// The main window's menus and the file commands behind them: the menu bar and its
// shortcut list, recent models and the local Hugging Face cache, exporting, sessions,
// cache files, plots, and files dropped on the window.
#include "ui/main_window.h"

#include "bridge/formats/hub_cache.h"
#include "bridge/model/activation_cache.h"
#include "ui/dataset_jobs.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_panel.h"
#include "ui/intervention_panel.h"
#include "ui/prompt_panel.h"
#include "ui/run_files.h"
#include "ui/run_views.h"
#include "ui/runner/dataset_job.h"
#include "ui/steering.h"

#include <QAction>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>

#include <filesystem>

namespace hookscope::ui {

namespace {

constexpr int kRecentModels = 8;

} // namespace

void MainWindow::connect_files() {
    connect(files_, &RunFiles::working, this, &MainWindow::show_busy);
    connect(files_, &RunFiles::done, progress_, &QWidget::hide);
    connect(files_, &RunFiles::failed, this, &MainWindow::on_failed);
    connect(files_, &RunFiles::exportFailed, this, [this](const QString& why) { emit exportFinished(false, why); });
    connect(files_, &RunFiles::sessionSaveFailed, this, [this](const QString& why) { emit sessionSaved(false, why); });
    connect(files_, &RunFiles::exported, this, [this](const QString& path, int hooks) {
        const QString message = tr("Exported %1 hook points to %2").arg(hooks).arg(path);
        set_status(message);
        emit exportFinished(true, message);
    });
    connect(files_, &RunFiles::sessionSaved, this, [this](const QString& path) {
        set_status(tr("Saved the session to %1").arg(path));
        emit sessionSaved(true, path);
    });
    connect(files_, &RunFiles::sessionRead, this,
            [this](const QString& path, const RunResult& r, const SessionState& state) {
                intervention_base_ = QFileInfo(path).absolutePath(); // its relative FILEs are beside it
                prompt_->set_prompt(state.prompt, state.token_mode);
                prompt_->restore_generation(QString::fromStdString(r.settings_json));
                hooks_->set_filter_text(state.filter);
                interventions_->set_rows(state.interventions);
                show_recorded_run(r);
                set_status(tr("Opened the session %1 (%2 tokens, %3 hook points)")
                               .arg(path)
                               .arg(r.tokens.size())
                               .arg(r.cache->size()));
                // Its model, for further runs, when it is still there; the views stay.
                std::error_code ec;
                if (std::filesystem::is_directory(r.model.toStdString(), ec)) {
                    set_precision(r.precision);
                    session_load_ = runner_->load(r.model, r.precision);
                }
                emit sessionOpened(path);
            });
    connect(files_, &RunFiles::cacheRead, this, [this](const QString& path, const RunResult& r, const QString& notes) {
        show_recorded_run(r);
        set_status(tr("Opened %1: %2").arg(path, notes));
        emit cacheOpened(path);
    });
}

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open model folder…"), this, &MainWindow::choose_model_folder)->setShortcut(QKeySequence::Open);
    recent_menu_ = file->addMenu(tr("Open &recent"));
    hub_menu_ = file->addMenu(tr("Models in the local &Hugging Face cache"));
    connect(hub_menu_, &QMenu::aboutToShow, this, &MainWindow::refresh_hub_menu);
    file->addSeparator();
    file->addAction(tr("&Export hook points…"), this, &MainWindow::export_dialog)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addAction(tr("&Save session…"), this,
                    [this] {
                        const QString path =
                            QFileDialog::getSaveFileName(this, tr("Save session"), "session.hookscope.safetensors",
                                                         tr("HookScope session (*.safetensors)"));
                        if (!path.isEmpty()) save_session_to(path);
                    })
        ->setShortcut(QKeySequence::Save);
    file->addAction(tr("Open sess&ion…"), this,
                    [this] {
                        const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), QString(),
                                                                          tr("HookScope session (*.safetensors)"));
                        if (!path.isEmpty()) open_session(path);
                    })
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    file->addAction(tr("Open &cache file…"), this,
                    [this] {
                        const QString path = QFileDialog::getOpenFileName(
                            this, tr("Open a cache file"), QString(),
                            tr("Activation caches (*.safetensors *.npz);;safetensors (*.safetensors);;NumPy "
                               "(*.npz);;Activation dataset (manifest.json)"));
                        if (!path.isEmpty()) open_cache(path);
                    })
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
    collect_action_ = file->addAction(tr("Co&llect activations…"), this, &MainWindow::collect_activations);
    collect_action_->setObjectName("collectAction");
    collect_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
    collect_action_->setEnabled(false);
    file->addAction(tr("Save &plot as PNG or PDF…"), this, &MainWindow::save_plot_dialog)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    file->addSeparator();
    file->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);
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
    run->addAction(tr("&Filter hook points"), this, &MainWindow::focus_filter)->setShortcut(QKeySequence::Find);
    run->addSeparator();
    run->addAction(tr("&Pin this run for comparison"), this, &MainWindow::pin_run)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    run->addAction(tr("&Unpin"), this, &MainWindow::unpin_run);
    run->addAction(tr("Activation p&atching…"), views_, &RunViews::show_patching)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_P));
    run->addAction(tr("Make steering &vector…"), this, [this] { make_steering_vector({}); })
        ->setObjectName("makeSteeringAction");
    run->addAction(steering_->compare_action());

    // Closed docks come back from here (the layout persists across restarts).
    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(prompt_dock_->toggleViewAction());
    view->addAction(hook_dock_->toggleViewAction());
    QAction* show_interventions = intervention_dock_->toggleViewAction();
    show_interventions->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    view->addAction(show_interventions);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* shortcuts = help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::show_shortcuts);
    shortcuts->setObjectName("shortcutsAction");
    shortcuts->setShortcut(QKeySequence::HelpContents);
    QAction* about = help->addAction(tr("&About HookScope"), this, [this] {
        message_box(QMessageBox::Information, "aboutDialog", tr("HookScope"), about_text_, QMessageBox::Ok)->open();
    });
    about->setObjectName("aboutAction");
}

void MainWindow::show_shortcuts() {
    QStringList lines;
    for (QAction* menu : menuBar()->actions()) {
        for (QAction* a : menu->menu()->actions()) {
            if (a->shortcut().isEmpty()) continue;
            lines << QStringLiteral("%1\t%2").arg(a->shortcut().toString(QKeySequence::NativeText),
                                                  a->text().remove('&'));
        }
    }
    lines << views_->view_shortcuts();
    message_box(QMessageBox::Information, "shortcutsDialog", tr("Keyboard shortcuts"), lines.join('\n'),
                QMessageBox::Ok)
        ->open();
}

ExportInfo MainWindow::run_export_info() const {
    const auto& summary = runner_->summary();
    const Tokenizer* tokenizer =
        summary && summary->fingerprint == last_run_->fingerprint ? summary->tokenizer.get() : nullptr;
    ExportInfo info =
        export_info_for(last_run_->model.toStdString(), last_run_->fingerprint, tokenizer, cache_->tokens(),
                        last_run_->prompt_length, last_run_->settings_json, last_run_->precision);
    if (!last_run_->token_strings.empty()) info.token_strings = last_run_->token_strings; // from a file
    info.interventions_json = last_run_->interventions_json;
    return info;
}

void MainWindow::export_dialog() {
    if (!cache_) {
        on_failed(tr("Exporting"), tr("there is nothing to export yet: generate or run a prompt first"));
        return;
    }
    const QString path = QFileDialog::getSaveFileName(this, tr("Export hook points"), "activations.safetensors",
                                                      tr("safetensors (*.safetensors);;NumPy (*.npz)"));
    if (!path.isEmpty()) export_to(path, hooks_->selected_hooks());
}

void MainWindow::export_to(const QString& path, std::vector<std::string> names) {
    if (!cache_ || !last_run_) {
        on_failed(tr("Exporting"), tr("there is nothing to export yet: generate or run a prompt first"));
        emit exportFinished(false, tr("nothing to export"));
        return;
    }
    if (names.empty()) { // everything the filter box shows
        for (const std::string& name : cache_->names()) {
            if (hooks_->filter_shows(name)) names.push_back(name);
        }
        if (names.empty()) {
            const QString why = tr("the filter matches no captured hook point");
            on_failed(tr("Exporting to %1").arg(path), why);
            emit exportFinished(false, why);
            return;
        }
    }
    files_->export_hooks(cache_, run_export_info(), std::move(names), path);
}

void MainWindow::save_session_to(const QString& path) {
    if (!cache_ || !last_run_) {
        on_failed(tr("Saving the session"), tr("there is no run to save yet: generate or run a prompt first"));
        return;
    }
    files_->save_session(
        *last_run_, run_export_info(),
        {prompt_->prompt_text(), prompt_->token_mode_on(), hooks_->filter_text(), interventions_->rows()}, path);
}

void MainWindow::open_session(const QString& path) {
    if (runner_->busy()) return on_failed(tr("Opening %1").arg(path), tr("a run is in progress: stop it first"));
    files_->open_session(path);
}

void MainWindow::open_cache(const QString& path) {
    if (is_dataset_path(path.toStdString())) {
        datasets_->open_dataset(path);
        return;
    }
    if (runner_->busy()) return on_failed(tr("Opening %1").arg(path), tr("a run is in progress: stop it first"));
    files_->open_cache(path);
}

void MainWindow::save_plot_dialog() {
    QCustomPlot* plot = views_->current_plot();
    if (!plot) return;
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save plot"), "plot.png", tr("PNG image (*.png);;PDF, vector (*.pdf)"));
    if (path.isEmpty()) return;
    if (save_plot(plot, path)) {
        set_status(tr("Saved %1").arg(path));
    } else {
        on_failed(tr("Saving %1").arg(path), tr("the file could not be written"));
    }
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
        if (cache_file || is_dataset_path(info.absoluteFilePath().toStdString())) {
            open_cache(info.absoluteFilePath());
        } else {
            open_model(info.isDir() ? info.absoluteFilePath() : info.absolutePath());
        }
        return;
    }
}

} // namespace hookscope::ui
