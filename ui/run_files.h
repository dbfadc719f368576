#pragma once
// Runs as files, read and written off the GUI thread: exports of hook points, saved
// sessions, and cache files opened without a model (our exports, or caches saved from
// TransformerLens). Each job reports through a signal on the GUI thread; a write is
// atomic, so a failed one leaves the file as it was.

#include "bridge/io/export.h"
#include "ui/intervention_list_model.h"
#include "ui/runner/model_runner.h"

#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

// What a session keeps of the window besides the run: the prompt box, the filter and
// the Interventions panel's rows.
struct SessionState {
    QString prompt;
    bool token_mode = false;
    QString filter;
    std::vector<InterventionRow> interventions;
};

class RunFiles : public QObject {
    Q_OBJECT

public:
    explicit RunFiles(QObject* parent = nullptr);

    // Writes hook points `names` of `cache` to `path` (.npz, else safetensors).
    void export_hooks(std::shared_ptr<const ActivationCache> cache, ExportInfo info, std::vector<std::string> names,
                      const QString& path);
    // Saves `run` (its cache, tokens and settings) with the window's `state`.
    void save_session(const RunResult& run, ExportInfo info, const SessionState& state, const QString& path);
    // Reads a session file, or any cache file (a session file opens as a session).
    void open_session(const QString& path);
    void open_cache(const QString& path);

signals:
    // A job started, described for the status bar; one of the signals below follows.
    void working(const QString& status);
    void done();
    void exported(const QString& path, int hooks);
    void sessionSaved(const QString& path);
    // A session: its run (cache, tokens, settings) and the window's state.
    void sessionRead(const QString& path, const hookscope::ui::RunResult& run,
                     const hookscope::ui::SessionState& state);
    // A cache file without a model: its run, and what reading it changed or skipped.
    void cacheRead(const QString& path, const hookscope::ui::RunResult& run, const QString& notes);
    // What failed ("Exporting to /x.npz") and why. A failed export or session save is
    // then also told by its own signal, for those waiting on that job.
    void failed(const QString& what, const QString& message);
    void exportFailed(const QString& message);
    void sessionSaveFailed(const QString& message);

private:
    // Runs `work` on Qt's thread pool, then `finish` here with the error message ("" on
    // success).
    void run(const QString& status, std::function<void()> work, std::function<void(const QString&)> finish);
};

} // namespace hookscope::ui
