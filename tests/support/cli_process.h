#pragma once
// The `hookscope` binary run as a user runs it: its exit code, stdout and stderr.

#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

namespace hookscope::test {

struct CliResult {
    int code = -1; // -1: did not finish within two minutes; -2: crashed
    QString out, err;
};

inline CliResult run_hookscope(const QStringList& args,
                               const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(HOOKSCOPE_BINARY, args);
    if (!p.waitForFinished(120000)) return {};
    CliResult r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace hookscope::test
