#pragma once
// What the window tests share: the tiny GPT-2 fixture, loading it, and the hook names a
// tree shows.

#include "ui/hook_tree_model.h"
#include "ui/main_window.h"
#include "ui/runner/model_runner.h"

#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QtTest>

#include <filesystem>

namespace hookscope::test {

inline const std::filesystem::path kGpt2 = std::filesystem::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

// Keeps QSettings away from the user's, and empty: for each test's initTestCase.
inline void isolate_settings() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("HookScopeTests");
    QSettings().clear();
}

// Opens `folder` in `w` and waits for it to load.
inline void load(ui::MainWindow& w, const std::filesystem::path& folder) {
    QSignalSpy loaded(w.runner(), &ui::ModelRunner::modelLoaded);
    w.open_model(QString::fromStdString(folder.string()));
    QVERIFY(loaded.wait(60'000));
}

// Every hook name under `parent` in the view's model, depth first.
inline void shown_hooks(const QAbstractItemModel& m, const QModelIndex& parent, QStringList& out) {
    for (int r = 0; r < m.rowCount(parent); ++r) {
        const QModelIndex i = m.index(r, 0, parent);
        if (const QString name = i.data(ui::HookTreeModel::HookNameRole).toString(); !name.isEmpty()) out << name;
        shown_hooks(m, i, out);
    }
}

} // namespace hookscope::test
