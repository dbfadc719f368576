#include "ui/run_files.h"

#include "bridge/io/cache_file.h"
#include "bridge/io/session.h"
#include "bridge/model/activation_cache.h"

#include <QFileInfo>
#include <QFutureWatcher>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtConcurrent/QtConcurrentRun>

#include <optional>

namespace hookscope::ui {

RunFiles::RunFiles(QObject* parent) : QObject(parent) {}

void RunFiles::run(const QString& status, std::function<void()> work, std::function<void(const QString&)> finish) {
    emit working(status);
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, finish = std::move(finish)] {
        watcher->deleteLater();
        emit done();
        finish(watcher->result());
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

void RunFiles::export_hooks(std::shared_ptr<const ActivationCache> cache, ExportInfo info,
                            std::vector<std::string> names, const QString& path) {
    const int count = static_cast<int>(names.size());
    run(
        tr("Exporting %1 hook points to %2…").arg(count).arg(path),
        [cache = std::move(cache), path, info = std::move(info), names = std::move(names)] {
            export_cache(*cache, path.toStdString(), info, names);
        },
        [this, path, count](const QString& error) {
            if (!error.isEmpty()) {
                emit failed(tr("Exporting to %1").arg(path), error);
                return emit exportFailed(error);
            }
            emit exported(path, count);
        });
}

void RunFiles::save_session(const RunResult& r, ExportInfo info, const SessionState& state, const QString& path) {
    QJsonObject json{{"prompt", state.prompt},
                     {"token_mode", state.token_mode},
                     {"stop_reason", r.stop_reason},
                     {"filter", state.filter}};
    if (r.tokens_per_second) json["tokens_per_second"] = *r.tokens_per_second;
    json["interventions"] = intervention_rows_json(state.interventions);
    if (!r.interventions.empty()) { // the run's own, resolved, as its export records them
        QJsonArray applied;
        for (const std::string& text : r.interventions)
            applied.append(QString::fromStdString(text));
        json["run_interventions"] = applied;
        json["run_interventions_json"] = QString::fromStdString(r.interventions_json);
    }
    if (r.seed) json["seed"] = QString::number(*r.seed);
    const std::string session_json = QJsonDocument(json).toJson(QJsonDocument::Compact).toStdString();
    run(
        tr("Saving the session to %1…").arg(path),
        [cache = r.cache, path, info = std::move(info), session_json] {
            hookscope::save_session(path.toStdString(), *cache, info, session_json);
        },
        [this, path](const QString& error) {
            if (!error.isEmpty()) {
                emit failed(tr("Saving the session to %1").arg(path), error);
                return emit sessionSaveFailed(error);
            }
            emit sessionSaved(path);
        });
}

void RunFiles::open_session(const QString& path) {
    auto loaded = std::make_shared<std::optional<Session>>();
    run(
        tr("Opening the session %1…").arg(path), [path, loaded] { *loaded = load_session(path.toStdString()); },
        [this, path, loaded](const QString& error) {
            if (!error.isEmpty()) return emit failed(tr("Opening the session %1").arg(path), error);
            Session& s = **loaded;
            auto cache = std::make_shared<const ActivationCache>(std::move(s.cache));
            const QJsonObject json = QJsonDocument::fromJson(QByteArray::fromStdString(s.session_json)).object();
            RunResult r;
            r.tokens = cache->tokens();
            r.prompt_length = s.info.prompt_length;
            r.stop_reason = json.value("stop_reason").toString(tr("saved"));
            if (json.contains("tokens_per_second")) r.tokens_per_second = json.value("tokens_per_second").toDouble();
            if (json.contains("seed")) r.seed = json.value("seed").toString().toULongLong();
            r.settings_json = s.info.generation_json;
            r.cache = cache;
            r.model = QString::fromStdString(s.info.model);
            r.fingerprint = s.info.model_fingerprint;
            r.precision = parse_precision(s.info.compute_dtype).value_or(Precision::Float32);
            r.token_strings = s.info.token_strings;
            for (const QJsonValue& text : json.value("run_interventions").toArray())
                r.interventions.push_back(text.toString().toStdString());
            if (json.contains("run_interventions_json"))
                r.interventions_json = json.value("run_interventions_json").toString().toStdString();
            r.intervention_base = QFileInfo(path).absolutePath(); // a session's FILEs resolve beside it
            const SessionState state{json.value("prompt").toString(), json.value("token_mode").toBool(),
                                     json.value("filter").toString(),
                                     intervention_rows_from_json(json.value("interventions").toArray())};
            emit sessionRead(path, r, state);
        });
}

void RunFiles::open_cache(const QString& path) {
    auto opened = std::make_shared<std::optional<OpenedCache>>();
    auto session = std::make_shared<bool>(false);
    run(
        tr("Opening %1…").arg(path),
        [path, opened, session] {
            *session = is_session_file(path.toStdString());
            if (*session) return;
            *opened = open_cache_file(path.toStdString());
        },
        [this, path, opened, session](const QString& error) {
            if (!error.isEmpty()) return emit failed(tr("Opening %1").arg(path), error);
            if (*session) return open_session(path);
            OpenedCache& o = **opened;
            RunResult r;
            r.cache = std::make_shared<const ActivationCache>(std::move(o.cache));
            r.tokens = r.cache->tokens();
            r.prompt_length = o.prompt_length;
            r.stop_reason = tr("file");
            r.model = QString::fromStdString(o.model);
            r.token_strings = o.token_strings;
            r.interventions = o.interventions;
            r.interventions_json = o.interventions_json;
            QString notes =
                tr("%1 positions, %2 hook points").arg(r.tokens.size()).arg(r.cache->size() - o.other.size());
            if (!o.other.empty()) notes += tr(", %1 other tensors").arg(o.other.size());
            for (const std::string& note : o.notes)
                notes += " · " + QString::fromStdString(note);
            emit cacheRead(path, r, notes);
        });
}

} // namespace hookscope::ui
