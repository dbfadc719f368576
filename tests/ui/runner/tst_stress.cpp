// Many generate/cancel cycles and model load/unload cycles in one process: memory
// (RSS) stays flat after warm-up and no thread is left behind: 200 generate/cancel
// cycles and 50 load/unload cycles, RSS within 5% of its level after warm-up.

#include "bridge/model/activation_cache.h"
#include "support/test_main.h"
#include "ui/runner/model_runner.h"

#include <QDir>
#include <QSignalSpy>
#include <QtTest>

#include <filesystem>
#include <malloc.h>
#include <optional>
#include <unistd.h>

namespace tst_stress {

using namespace hookscope;
using namespace hookscope::ui;
namespace fs = std::filesystem;

namespace {

// AddressSanitizer keeps freed memory in quarantine (256 MB by default), so RSS grows
// with every allocation there: the memory bar holds for the release build only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMeasuresMemory = false;
#else
constexpr bool kMeasuresMemory = true;
#endif

const QString kGolden = QString(HOOKSCOPE_FIXTURES) + "/golden/";

// Resident memory in bytes, after handing freed heap pages back to the system (so
// that what remains is what is still in use, not what malloc keeps for later).
double resident_bytes() {
    malloc_trim(0);
    long pages = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f || std::fscanf(f, "%ld %ld", &pages, &resident) != 2) qFatal("cannot read /proc/self/statm");
    std::fclose(f);
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Threads of this process. A thread that has just been joined can linger in
// /proc/self/task for a moment, so counts are compared with QTRY_COMPARE.
int thread_count() {
    return static_cast<int>(QDir("/proc/self/task").entryList(QDir::Dirs | QDir::NoDotAndDotDot).size());
}

// The thread count once it has held still for 100 ms.
int settled_thread_count() {
    int count = thread_count();
    for (int i = 0; i < 50; ++i) {
        QTest::qWait(100);
        const int now = thread_count();
        if (now == count) break;
        count = now;
    }
    return count;
}

void load(ModelRunner& runner, const QString& folder) {
    QSignalSpy loaded(&runner, &ModelRunner::modelLoaded);
    QSignalSpy failed(&runner, &ModelRunner::failed);
    runner.load(folder);
    QVERIFY(loaded.wait(60'000));
    QCOMPARE(failed.size(), 0);
}

} // namespace

class TestStress : public QObject {
    Q_OBJECT

private slots:
    void generateAndCancel200Times() {
        ModelRunner runner;
        load(runner, kGolden + "gpt2-tiny");
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{1, 2, 3};
        request.max_new_tokens = 100;
        request.greedy = true;
        double warm_rss = 0;
        int warm_threads = 0, cancelled = 0;
        std::optional<RunResult> result;
        connect(&runner, &ModelRunner::finished, this, [&](int, const RunResult& r) { result = r; });
        for (int cycle = 0; cycle < 200; ++cycle) {
            result.reset();
            QSignalSpy token(&runner, &ModelRunner::tokenGenerated);
            runner.generate(request);
            QVERIFY(token.wait(30'000));
            runner.cancel();
            QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 30'000);
            QVERIFY(result->tokens.size() > 3 && result->tokens.size() <= 103);
            QCOMPARE(result->cache->tokens().size(), result->tokens.size()); // the cache covers every token
            cancelled += result->stop_reason == "cancelled";
            if (cycle == 19) warm_rss = resident_bytes(), warm_threads = settled_thread_count();
        }
        const double end_rss = resident_bytes();
        qInfo(
            "200 generate/cancel cycles (%d stopped by the cancel): RSS %.1f MB after 20, %.1f MB after 200 (%+.2f%%)",
            cancelled, warm_rss / 1e6, end_rss / 1e6, 100 * (end_rss / warm_rss - 1));
        QVERIFY(cancelled > 0);
        if (kMeasuresMemory) QVERIFY2(end_rss <= warm_rss * 1.05, qPrintable(QString::number(end_rss / warm_rss)));
        QTRY_COMPARE_WITH_TIMEOUT(thread_count(), warm_threads, 5'000);
    }

    void loadAndUnload50Times() {
        const int before = settled_thread_count();
        const QStringList models{kGolden + "gpt2-tiny", kGolden + "pythia-tiny", kGolden + "llama-tiny"};
        double warm_rss = 0;
        int warm_threads = 0;
        for (int cycle = 0; cycle < 50; ++cycle) {
            {
                ModelRunner runner; // its worker thread and model end with it
                load(runner, models[cycle % models.size()]);
                QVERIFY(runner.summary().has_value());
            }
            if (cycle == 5) warm_rss = resident_bytes(), warm_threads = settled_thread_count();
        }
        const double end_rss = resident_bytes();
        qInfo("50 load/unload cycles: RSS %.1f MB after 6, %.1f MB after 50 (%+.2f%%); threads %d before, %d after",
              warm_rss / 1e6, end_rss / 1e6, 100 * (end_rss / warm_rss - 1), before, thread_count());
        if (kMeasuresMemory) QVERIFY2(end_rss <= warm_rss * 1.05, qPrintable(QString::number(end_rss / warm_rss)));
        QTRY_COMPARE_WITH_TIMEOUT(thread_count(), warm_threads, 5'000);
        QVERIFY(warm_threads <= before + 2); // at most BLAS's own pool, started by the first product
    }
};

HOOKSCOPE_TEST_MAIN(TestStress)

} // namespace tst_stress
#include "tst_stress.moc"
