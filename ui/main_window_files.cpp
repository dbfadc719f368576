// MainWindow's files: exports of hook points, sessions, and saved plots. Every write
// runs off the GUI thread (run_in_background) and reports through a signal.

#include "ui/main_window.h"

#include "bridge/analysis/view_data.h"
#include "bridge/io/cache_file.h"
#include "bridge/io/export.h"
#include "bridge/io/session.h"
#include "bridge/model/activation_cache.h"
#include "ui/attention_view.h"
#include "ui/cache_data.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_filter_proxy.h"
#include "ui/hook_panel.h"
#include "ui/prompt_panel.h"
#include "ui/residual_view.h"
#include "ui/tensor_view.h"
#include "ui/token_view.h"

#include <QCheckBox>
#include <QFileDialog>
#include <QFutureWatcher>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QTabWidget>
#include <QtConcurrent/QtConcurrentRun>

#include <filesystem>
#include <map>

namespace hookscope::ui {

void MainWindow::export_dialog() {
    if (!cache_) {
        on_failed(tr("Exporting"), tr("there is nothing to export yet: generate or run a prompt first"));
        return;
    }
    QString path = QFileDialog::getSaveFileName(this, tr("Export hook points"), "activations.safetensors",
                                                tr("safetensors (*.safetensors);;NumPy (*.npz)"));
    if (!path.isEmpty()) export_to(path, hooks_->selected_hooks());
}

ExportInfo MainWindow::run_export_info() const {
    const auto& summary = runner_->summary();
    const Tokenizer* tokenizer =
        summary && summary->fingerprint == last_run_->fingerprint ? summary->tokenizer.get() : nullptr;
    ExportInfo info =
        export_info_for(last_run_->model.toStdString(), last_run_->fingerprint, tokenizer, cache_->tokens(),
                        last_run_->prompt_length, last_run_->settings_json, last_run_->precision);
    if (!last_run_->token_strings.empty()) info.token_strings = last_run_->token_strings; // from a session
    return info;
}

void MainWindow::export_to(const QString& path, std::vector<std::string> names) {
    if (!cache_ || !last_run_) {
        on_failed(tr("Exporting"), tr("there is nothing to export yet: generate or run a prompt first"));
        emit exportFinished(false, tr("nothing to export"));
        return;
    }
    if (names.empty()) { // everything the filter box shows
        for (const std::string& name : cache_->names()) {
            if (hooks_->proxy()->names_filter().matches(name)) names.push_back(name);
        }
        if (names.empty()) {
            const QString why = tr("the filter matches no captured hook point");
            on_failed(tr("Exporting to %1").arg(path), why);
            emit exportFinished(false, why);
            return;
        }
    }
    ExportInfo info = run_export_info();
    const std::size_t count = names.size();
    run_in_background(
        tr("Exporting %1 hook points to %2…").arg(count).arg(path),
        [cache = cache_, path, info = std::move(info), names = std::move(names)] {
            export_cache(*cache, path.toStdString(), info, names);
        },
        [this, path, count](const QString& error) {
            if (error.isEmpty()) {
                const QString message = tr("Exported %1 hook points to %2").arg(count).arg(path);
                set_status(message);
                emit exportFinished(true, message);
            } else {
                on_failed(tr("Exporting to %1").arg(path), error);
                emit exportFinished(false, error);
            }
        });
}

void MainWindow::run_in_background(const QString& status, std::function<void()> work,
                                   std::function<void(QString)> done) {
    progress_->setRange(0, 0);
    progress_->show();
    set_status(status);
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, done = std::move(done)] {
        watcher->deleteLater();
        progress_->hide();
        done(watcher->result());
    });
    watcher->setFuture(QtConcurrent::run([work = std::move(work)] {
        try {
            work();
            return QString();
        } catch (const std::exception& e) {
            return QString::fromStdString(e.what());
        }
    }));
}

void MainWindow::save_session_to(const QString& path) {
    if (!cache_ || !last_run_) {
        on_failed(tr("Saving the session"), tr("there is no run to save yet: generate or run a prompt first"));
        return;
    }
    const auto& summary = runner_->summary();
    const Tokenizer* tokenizer = summary ? summary->tokenizer.get() : nullptr;
    ExportInfo info =
        export_info_for(last_run_->model.toStdString(), last_run_->fingerprint, tokenizer, cache_->tokens(),
                        last_run_->prompt_length, last_run_->settings_json, last_run_->precision);
    if (!last_run_->token_strings.empty()) info.token_strings = last_run_->token_strings; // from a session
    QJsonObject state{{"prompt", prompt_->prompt_edit()->toPlainText()},
                      {"token_mode", prompt_->token_mode()->isChecked()},
                      {"stop_reason", last_run_->stop_reason},
                      {"filter", hooks_->filter_edit()->text()}};
    if (last_run_->tokens_per_second) state["tokens_per_second"] = *last_run_->tokens_per_second;
    if (last_run_->seed) state["seed"] = QString::number(*last_run_->seed);
    const std::string session_json = QJsonDocument(state).toJson(QJsonDocument::Compact).toStdString();
    run_in_background(
        tr("Saving the session to %1…").arg(path),
        [cache = cache_, path, info = std::move(info), session_json] {
            save_session(path.toStdString(), *cache, info, session_json);
        },
        [this, path](const QString& error) {
            if (error.isEmpty()) {
                set_status(tr("Saved the session to %1").arg(path));
                emit sessionSaved(true, path);
            } else {
                on_failed(tr("Saving the session to %1").arg(path), error);
                emit sessionSaved(false, error);
            }
        });
}

void MainWindow::open_session(const QString& path) {
    if (runner_->busy()) {
        on_failed(tr("Opening %1").arg(path), tr("a run is in progress: stop it first"));
        return;
    }
    auto loaded = std::make_shared<std::optional<Session>>();
    run_in_background(
        tr("Opening the session %1…").arg(path), [path, loaded] { *loaded = load_session(path.toStdString()); },
        [this, path, loaded](const QString& error) {
            if (!error.isEmpty()) return on_failed(tr("Opening the session %1").arg(path), error);
            Session& s = **loaded;
            auto cache = std::make_shared<const ActivationCache>(std::move(s.cache));
            const QJsonObject state = QJsonDocument::fromJson(QByteArray::fromStdString(s.session_json)).object();
            RunResult r;
            r.tokens = cache->tokens();
            r.prompt_length = s.info.prompt_length;
            r.stop_reason = state.value("stop_reason").toString(tr("saved"));
            if (state.contains("tokens_per_second")) r.tokens_per_second = state.value("tokens_per_second").toDouble();
            if (state.contains("seed")) r.seed = state.value("seed").toString().toULongLong();
            r.settings_json = s.info.generation_json;
            r.cache = cache;
            r.model = QString::fromStdString(s.info.model);
            r.fingerprint = s.info.model_fingerprint;
            r.precision = parse_precision(s.info.compute_dtype).value_or(Precision::Float32);
            r.token_strings = s.info.token_strings;

            prompt_->token_mode()->setChecked(state.value("token_mode").toBool());
            prompt_->prompt_edit()->setPlainText(state.value("prompt").toString());
            hooks_->filter_edit()->setText(state.value("filter").toString());
            show_recorded_run(r, s.info.token_strings);
            set_status(tr("Opened the session %1 (%2 tokens, %3 hook points)")
                           .arg(path)
                           .arg(r.tokens.size())
                           .arg(cache->size()));

            // Its model, for further runs, when it is still there; the views stay.
            std::error_code ec;
            if (std::filesystem::is_directory(s.info.model, ec)) {
                set_precision(r.precision);
                session_load_ = runner_->load(r.model, r.precision);
            }
            emit sessionOpened(path);
        });
}

void MainWindow::show_recorded_run(const RunResult& r, const std::vector<std::string>& token_strings) {
    // Labels from the tokens' text as recorded (no model needed), else their ids, else
    // their positions.
    QStringList labels;
    std::map<int64_t, QString> by_id;
    for (std::size_t i = 0; i < r.tokens.size(); ++i) {
        if (i < token_strings.size()) {
            labels << QString::fromStdString(display_of_text(token_strings[i]));
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
    tokens_->set_labeler(labeler);
    tokens_->clear_tokens();
    for (std::size_t i = 0; i < r.tokens.size(); ++i)
        tokens_->append(r.tokens[i], static_cast<int64_t>(i) >= r.prompt_length);
    const CacheShape shape = cache_shape(*r.cache);
    show_run(r, labels, labeler, shape.layers, shape.heads, shape.kv_heads);
}

void MainWindow::open_cache(const QString& path) {
    if (runner_->busy()) {
        on_failed(tr("Opening %1").arg(path), tr("a run is in progress: stop it first"));
        return;
    }
    auto opened = std::make_shared<std::optional<OpenedCache>>();
    auto session = std::make_shared<bool>(false);
    run_in_background(
        tr("Opening %1…").arg(path),
        [path, opened, session] {
            *session = is_session_file(path.toStdString());
            if (!*session) *opened = open_cache_file(path.toStdString());
        },
        [this, path, opened, session](const QString& error) {
            if (!error.isEmpty()) return on_failed(tr("Opening %1").arg(path), error);
            if (*session) return open_session(path);
            OpenedCache& o = **opened;
            RunResult r;
            r.cache = std::make_shared<const ActivationCache>(std::move(o.cache));
            r.tokens = r.cache->tokens();
            r.prompt_length = o.prompt_length;
            r.stop_reason = tr("file");
            r.model = QString::fromStdString(o.model);
            r.token_strings = o.token_strings;
            show_recorded_run(r, o.token_strings);
            QString status = tr("Opened %1: %2 positions, %3 hook points")
                                 .arg(path)
                                 .arg(r.tokens.size())
                                 .arg(r.cache->size() - o.other.size());
            if (!o.other.empty()) status += tr(", %1 other tensors").arg(o.other.size());
            for (const std::string& note : o.notes)
                status += " · " + QString::fromStdString(note);
            set_status(status);
            emit cacheOpened(path);
        });
}

void MainWindow::save_plot_dialog() {
    QCustomPlot* plot = nullptr;
    if (tabs_->currentWidget() == attention_) plot = attention_->heatmap();
    if (tabs_->currentWidget() == tensor_view_) plot = tensor_view_->current_plot();
    if (tabs_->currentWidget() == residual_) plot = residual_->plot();
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

} // namespace hookscope::ui
