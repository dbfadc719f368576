#pragma once
// The ranks of one run over several processes on this machine: `hookscope` processes
// joined over 127.0.0.1 on a port free at run time, configured by flags alone.

#include "support/cli_process.h"

#include <QProcess>
#include <QStringList>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <vector>

namespace hookscope::test {

// A port nothing listens on now: bound to 0, read back, released.
inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0)
        qFatal("cannot find a free port");
    ::close(fd);
    return ntohs(address.sin_port);
}

// The environment without torchrun's variables, so only the flags configure a run.
inline QProcessEnvironment launch_free_env() {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char* name : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                             "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT", "GLOO_SOCKET_IFNAME"})
        env.remove(name);
    return env;
}

inline CliResult finished(QProcess& p) {
    CliResult r;
    if (!p.waitForFinished(120000)) return r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

class Ranks {
public:
    // Starts `ranks` (all of 0..world-1 when empty) of a run of `world`, each with
    // `args`, --threads 1, its launch flags, --dist-timeout `timeout` seconds and what
    // `more` holds for it.
    Ranks(int world, const QStringList& args, int timeout = 60, std::vector<int> ranks = {},
          const QProcessEnvironment& env = launch_free_env(), const std::map<int, QStringList>& more = {}) {
        const QString master = "127.0.0.1:" + QString::number(free_port());
        if (ranks.empty()) {
            for (int r = 0; r < world; ++r)
                ranks.push_back(r);
        }
        for (const int r : ranks) {
            auto p = std::make_unique<QProcess>();
            p->setProcessEnvironment(env);
            p->start(HOOKSCOPE_BINARY, args +
                                           QStringList{"--threads", "1", "--world-size", QString::number(world),
                                                       "--rank", QString::number(r), "--master", master,
                                                       "--dist-timeout", QString::number(timeout)} +
                                           (more.count(r) ? more.at(r) : QStringList{}));
            processes_[r] = std::move(p);
        }
    }

    QProcess& process(int rank) { return *processes_.at(rank); }

    // Every rank's result, by rank.
    std::map<int, CliResult> finish() {
        std::map<int, CliResult> results;
        for (auto& [rank, p] : processes_)
            results[rank] = finished(*p);
        return results;
    }

private:
    std::map<int, std::unique_ptr<QProcess>> processes_;
};

inline QString all_errors(const std::map<int, CliResult>& results) {
    QString text;
    for (const auto& [rank, r] : results)
        text += QString("rank %1 (exit %2): %3\n").arg(rank).arg(r.code).arg(r.err);
    return text;
}

} // namespace hookscope::test
