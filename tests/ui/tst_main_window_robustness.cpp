// The main window when things go wrong or change under it: loads that race, broken
// checkpoints and bad input, a stop and a close in the middle of a generation.

#include "bridge/model/safetensors.h"
#include "support/edited_checkpoint.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/attention_view.h"
#include "ui/heatmap_plot.h"
#include "ui/hook_panel.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/token_view.h"

#include <ATen/ATen.h>

#include <QCheckBox>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

namespace tst_main_window_robustness {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;
namespace fs = std::filesystem;

namespace {

// A GPT-2 checkpoint with random weights and a long context: slow enough per token
// that a stop or a close lands in the middle of a generation.
fs::path long_context_gpt2(const QTemporaryDir& dir) {
    const fs::path out = fs::path(dir.path().toStdString()) / "gpt2-long";
    fs::create_directories(out);
    const int64_t layers = 4, d = 128, ctx = 2048, vocab = 512;
    std::ofstream(out / "config.json") << R"({"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 128,
        "n_positions": 2048, "vocab_size": 512})";
    at::manual_seed(1);
    NamedTensors w;
    const auto add = [&](const std::string& name, std::vector<int64_t> shape) {
        w.emplace_back(name, at::randn(shape) * 0.1);
    };
    add("wte.weight", {vocab, d});
    add("wpe.weight", {ctx, d});
    for (int64_t i = 0; i < layers; ++i) {
        const std::string h = "h." + std::to_string(i) + ".";
        for (const char* ln : {"ln_1", "ln_2"}) {
            add(h + ln + ".weight", {d});
            add(h + ln + ".bias", {d});
        }
        add(h + "attn.c_attn.weight", {d, 3 * d});
        add(h + "attn.c_attn.bias", {3 * d});
        add(h + "attn.c_proj.weight", {d, d});
        add(h + "attn.c_proj.bias", {d});
        add(h + "mlp.c_fc.weight", {d, 4 * d});
        add(h + "mlp.c_fc.bias", {4 * d});
        add(h + "mlp.c_proj.weight", {4 * d, d});
        add(h + "mlp.c_proj.bias", {d});
    }
    add("ln_f.weight", {d});
    add("ln_f.bias", {d});
    write_safetensors(out / "model.safetensors", w);
    return out;
}

} // namespace

class TestMainWindowRobustness : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    void theLatestLoadWins() {
        MainWindow w;
        w.show();
        load(w, kGpt2);
        w.prompt_panel()->prompt_edit()->setPlainText("1 2 3");
        w.prompt_panel()->max_new_tokens()->setValue(2);
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        QVERIFY(w.generate());
        QVERIFY(shown.wait(60'000));
        QVERIFY(w.attention_view()->heatmap()->matrix().rows > 0);

        const fs::path llama = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "llama-tiny";
        QSignalSpy loaded(w.runner(), &ModelRunner::modelLoaded);
        w.open_model(QString::fromStdString(kGpt2.string()));
        w.open_model(QString::fromStdString(llama.string()));
        QVERIFY(loaded.wait(60'000));
        QTest::qWait(50); // a superseded load would have landed by now
        QCOMPARE(loaded.size(), 1);
        QCOMPARE(w.runner()->summary()->folder, QString::fromStdString(llama.string()));
        QVERIFY(!w.cache());
        QCOMPARE(w.attention_view()->heatmap()->matrix().rows, int64_t(0)); // the old run is gone
        QVERIFY(w.token_view()->ids().empty());
        QVERIFY(w.generate()); // and runs use the model the window shows
        QVERIFY(shown.wait(60'000));
        QVERIFY(w.cache()->contains("blocks.0.mlp.hook_pre_linear")); // Llama's gated MLP

        // A filter that matches nothing captured exports nothing, and says so.
        QTemporaryDir out;
        w.hook_panel()->filter_edit()->setText("no_such_hook");
        QSignalSpy exported(&w, &MainWindow::exportFinished);
        w.export_to(out.filePath("x.safetensors"));
        QCOMPARE(exported.size(), 1);
        QVERIFY(!exported.first().at(0).toBool());
        QVERIFY(!QFile::exists(out.filePath("x.safetensors")));
        delete w.findChild<QMessageBox*>("errorDialog");
    }

    // A checkpoint with NaN and infinite weights loads; a warning dialog names the tensor.
    void nonFiniteWeightsLoadWithAWarning() {
        QTemporaryDir dir;
        const fs::path folder = test::edited_checkpoint(kGpt2, fs::path(dir.path().toStdString()) / "broken",
                                                        test::non_finite_in("transformer.h.0.attn.c_attn.weight"));
        MainWindow w;
        w.show();
        QSignalSpy warned(&w, &MainWindow::warningShown);
        load(w, folder);
        QCOMPARE(warned.size(), 1);
        const QString message = warned.first().first().toString();
        QVERIFY2(message.contains("`transformer.h.0.attn.c_attn.weight` holds 1 NaN and 2 infinite values"),
                 qPrintable(message));
        auto* box = w.findChild<QMessageBox*>("warningDialog");
        QVERIFY(box);
        QCOMPARE(box->informativeText(), message);
        box->close();

        QSignalSpy warned_again(&w, &MainWindow::warningShown);
        load(w, kGpt2); // a clean checkpoint warns of nothing
        QCOMPARE(warned_again.size(), 0);
    }

    void badInputIsReportedNotFatal() {
        MainWindow w;
        w.show();
        w.open_model("/no/such/folder");
        auto* box = w.findChild<QMessageBox*>("errorDialog");
        QVERIFY(box);
        QVERIFY2(box->informativeText().contains("/no/such/folder"), qPrintable(box->informativeText()));
        box->close();

        load(w, kGpt2);
        w.prompt_panel()->prompt_edit()->setPlainText("1 two 3");
        QSignalSpy started(w.runner(), &ModelRunner::started);
        w.generate();
        QVERIFY(!w.prompt_panel()->error_label()->isHidden());
        QVERIFY(w.prompt_panel()->error_label()->text().contains("`two`"));
        QCOMPARE(started.size(), 0);

        // An id outside the vocabulary: the bridge's message, in a dialog.
        w.prompt_panel()->prompt_edit()->setPlainText("1 9999");
        QSignalSpy failed(w.runner(), &ModelRunner::failed);
        w.generate();
        QVERIFY(failed.wait(30'000));
        QVERIFY2(failed.first().at(2).toString().contains("9999"), qPrintable(failed.first().at(2).toString()));
        QVERIFY(!w.runner()->busy());
    }

    void stopKeepsThePartialResultAndItsCache() {
        QTemporaryDir dir;
        MainWindow w;
        w.show();
        load(w, long_context_gpt2(dir));
        w.set_cache_limit(std::nullopt); // up to 2,003 positions: about 560 MB, whatever the machine has
        w.prompt_panel()->prompt_edit()->setPlainText("1 2 3");
        w.prompt_panel()->max_new_tokens()->setValue(2000);
        w.prompt_panel()->greedy()->setChecked(true);
        QSignalSpy tokens(w.runner(), &ModelRunner::tokenGenerated);
        QSignalSpy shown(&w, &MainWindow::cacheShown);
        w.generate();
        QVERIFY(tokens.wait(30'000));
        QElapsedTimer timer;
        timer.start();
        QTest::keyClick(&w, Qt::Key_Escape);
        QVERIFY(shown.wait(30'000));
        qInfo("stopped after %lld new tokens; the cache came %lld ms after Esc",
              static_cast<long long>(w.last_run()->tokens.size() - 3), static_cast<long long>(timer.elapsed()));
        QCOMPARE(w.last_run()->stop_reason, QString("cancelled"));
        const std::size_t total = w.last_run()->tokens.size();
        QVERIFY(total > 3 && total < 2003);
        QCOMPARE(w.cache()->tokens().size(), total); // the cache covers what was generated
        QCOMPARE((*w.cache())["hook_embed"].size(1), static_cast<int64_t>(total));
        QVERIFY(w.prompt_panel()->generate_button()->isEnabled());
    }

    void closingDuringGenerationIsClean() {
        QTemporaryDir dir;
        const fs::path folder = long_context_gpt2(dir);
        auto w = std::make_unique<MainWindow>();
        w->show();
        load(*w, folder);
        w->prompt_panel()->prompt_edit()->setPlainText("1 2 3");
        w->prompt_panel()->max_new_tokens()->setValue(2000);
        QSignalSpy tokens(w->runner(), &ModelRunner::tokenGenerated);
        w->generate();
        QVERIFY(tokens.wait(30'000));
        QVERIFY(w->runner()->busy());
        QElapsedTimer timer;
        timer.start();
        w->close();
        w.reset(); // joins the worker thread
        qInfo("closed mid-generation in %lld ms", static_cast<long long>(timer.elapsed()));
        QCoreApplication::processEvents(); // results posted for the dead window go nowhere
    }
};

HOOKSCOPE_TEST_MAIN(TestMainWindowRobustness)

} // namespace tst_main_window_robustness
#include "tst_main_window_robustness.moc"
