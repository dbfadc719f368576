// File > Collect activations… and a dataset opened in the window: the window's dataset
// equals, byte for byte, the one `hookscope collect` writes with the same options;
// cancel keeps the finished shards and writes no manifest, and a rerun resumes to the
// same bytes; a filter the bridge refuses writes nothing; the summary of an opened
// dataset and the check of its shards.

#include "bridge/core/errors.h"
#include "bridge/io/collect.h"
#include "bridge/io/dataset.h"
#include "bridge/model/model.h"
#include "bridge/model/threads.h"
#include "support/cli_process.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/collect_dialog.h"
#include "ui/dataset_jobs.h"
#include "ui/dataset_view.h"
#include "ui/hook_panel.h"
#include "ui/main_window.h"

#include <QAction>
#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

namespace tst_collect_dialog {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const QString kFilter = "blocks.0.hook_resid_pre,blocks.1.attn.hook_z,ln_final.hook_normalized";

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

QString q(const fs::path& path) {
    return QString::fromStdString(path.string());
}

// Every file of a dataset folder (shards and manifest) by name.
std::map<std::string, std::string> files_of(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(dir))
        files[entry.path().filename().string()] = read_bytes(entry.path());
    return files;
}

int shard_count(const fs::path& dir) {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(dir))
        n += entry.path().extension() == ".safetensors";
    return n;
}

// `count` prompts of token ids, of lengths 1..`longest` cycling, as .jsonl.
fs::path write_token_prompts(const fs::path& path, int count, int longest) {
    std::string text;
    for (int k = 0; k < count; ++k) {
        std::vector<int64_t> ids;
        for (int p = 0; p < 1 + (k * 7) % longest; ++p)
            ids.push_back((k * 31 + p * 17) % 512);
        text += json{{"tokens", ids}}.dump() + "\n";
    }
    write_bytes(path, text);
    return path;
}

struct Options {
    fs::path prompts, out;
    QString filter = kFilter;
    int max_positions = 0; // 0: the model's context
    QString shard_size = "16K";
    int batch_prompts = 4;
    bool prepend_bos = true;
};

// The same options on the command line.
CliResult collect_cli(const fs::path& model, const Options& o) {
    QStringList args{"collect",
                     "--model",
                     q(model),
                     "--prompts",
                     q(o.prompts),
                     "--out",
                     q(o.out),
                     "--names-filter",
                     o.filter,
                     "--shard-size",
                     o.shard_size,
                     "--batch-prompts",
                     QString::number(o.batch_prompts)};
    if (o.max_positions > 0) args << "--max-positions" << QString::number(o.max_positions);
    if (!o.prepend_bos) args << "--no-prepend-bos";
    return run_hookscope(args);
}

// Opens the collect dialog and fills it with `o` (the filter from the hook panel).
CollectDialog* fill_dialog(MainWindow& w, const Options& o) {
    w.hook_panel()->set_filter_text(o.filter);
    CollectDialog* d = w.collect_activations();
    if (!d) return nullptr;
    d->prompts()->setText(q(o.prompts));
    d->folder()->setText(q(o.out));
    d->max_positions()->setValue(o.max_positions > 0 ? o.max_positions : d->max_positions()->maximum());
    d->shard_size()->setText(o.shard_size);
    d->batch_prompts()->setValue(o.batch_prompts);
    d->prepend_bos()->setChecked(o.prepend_bos);
    return d;
}

// Collects `o` in the window and waits for it to finish.
void collect_in_window(MainWindow& w, const Options& o) {
    QSignalSpy finished(w.datasets(), &DatasetJobs::collectFinished);
    QSignalSpy failed(&w, &MainWindow::errorShown);
    CollectDialog* d = fill_dialog(w, o);
    QVERIFY(d);
    QCOMPARE(d->filter()->text(), o.filter); // taken from the hook panel
    d->accept();
    QVERIFY2(d->error()->isHidden(), qPrintable(d->error()->text()));
    QVERIFY(finished.wait(60'000) || finished.size() == 1);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
}

// The message the bridge refuses `filter` with, for `model`.
QString bridge_refusal(const fs::path& model, const QString& filter) {
    const auto m = Model::load(model);
    try {
        dataset_hooks(*m, NamesFilter(filter.toStdString()));
    } catch (const FilterError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

void close_error_dialogs(MainWindow& w) {
    for (QMessageBox* box : w.findChildren<QMessageBox*>("errorDialog"))
        delete box;
}

} // namespace

class TestCollectDialog : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> w_;
    fs::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void initTestCase() {
        isolate_settings();
        qRegisterMetaType<DatasetDialog*>();
        // The command line's threads, so that the window's sums are made in the same order.
        apply_thread_split(default_thread_split());
        w_ = std::make_unique<MainWindow>();
        QVERIFY(!w_->findChild<QAction*>("collectAction")->isEnabled()); // no model yet
        load(*w_, kGpt2);
        QVERIFY(w_->findChild<QAction*>("collectAction")->isEnabled());
    }

    void windowDatasetEqualsTheCommandLinesByteForByte() {
        Options o;
        o.prompts = write_token_prompts(dir() / "prompts.jsonl", 11, 15);
        o.max_positions = 10; // prompts of 11..15 tokens are cut
        o.out = dir() / "window";
        collect_in_window(*w_, o);
        Options cli = o;
        cli.out = dir() / "cli";
        const CliResult r = collect_cli(kGpt2, cli);
        QVERIFY2(r.code == 0, qPrintable(r.err));

        const auto window = files_of(o.out), expected = files_of(cli.out);
        QVERIFY(window.count(kManifestName));
        QVERIFY(shard_count(o.out) > 1);
        QCOMPARE(window.size(), expected.size());
        for (const auto& [name, bytes] : expected) {
            QVERIFY2(window.count(name), name.c_str());
            QVERIFY2(window.at(name) == bytes, name.c_str()); // manifest included: the same identity
        }
        const auto manifest = read_manifest(o.out);
        const QString status = w_->statusBar()->findChild<QLabel*>("statusText")->text();
        QVERIFY2(
            status.contains(QString("Collected %1 prompts (%2 tokens)").arg(manifest->prompts).arg(manifest->tokens)),
            qPrintable(status));
        QVERIFY2(status.contains(QString("into %1 shard(s) in %2").arg(manifest->shards.size()).arg(q(o.out))),
                 qPrintable(status));
        QVERIFY(manifest->cut_prompts > 0);
    }

    void cancelKeepsFinishedShardsAndARerunResumesToTheSameBytes() {
        Options o;
        o.prompts = write_token_prompts(dir() / "many.jsonl", 400, 100);
        o.filter = "blocks.0.hook_resid_pre";
        o.shard_size = "1K"; // a shard per prompt, written once the next prompt comes
        o.batch_prompts = 2;
        o.out = dir() / "resumed";
        QSignalSpy cancelled(w_->datasets(), &DatasetJobs::collectCancelled);
        QSignalSpy finished(w_->datasets(), &DatasetJobs::collectFinished);
        // Cancel once the first batch is done, reading the progress the window shows then.
        QString shown;
        int bar_value = -1, bar_maximum = -1;
        auto once = connect(w_->runner(), &ModelRunner::collectProgress, this, [&, this](int, const CollectStatus& s) {
            if (s.prompts_done == 0 || !w_->datasets()->cancel_button()->isEnabled()) return;
            shown = w_->datasets()->progress_text()->text();
            bar_value = w_->datasets()->progress_bar()->value();
            bar_maximum = w_->datasets()->progress_bar()->maximum();
            w_->datasets()->cancel_button()->click();
        });
        CollectDialog* d = fill_dialog(*w_, o);
        QVERIFY(d);
        d->accept();
        QVERIFY(w_->datasets()->progress_widget()->isVisibleTo(w_.get()));
        QVERIFY(cancelled.wait(60'000) || cancelled.size() == 1);
        disconnect(once);
        QCOMPARE(bar_maximum, 400);
        QVERIFY(bar_value >= 2);
        QVERIFY2(shown.contains(" tokens/s"), qPrintable(shown));
        QCOMPARE(finished.size(), 0);
        QVERIFY(!w_->datasets()->progress_widget()->isVisibleTo(w_.get()));
        QVERIFY(!fs::exists(o.out / kManifestName));
        const int kept = shard_count(o.out);
        QVERIFY(kept >= 1);
        QVERIFY2(kept < 400, "the collect finished before the cancel");
        QVERIFY(w_->statusBar()->findChild<QLabel*>("statusText")->text().contains("cancelled"));

        // The dialog remembers the choices: accepting it as it opens resumes.
        QSignalSpy status(w_->datasets(), &DatasetJobs::status);
        w_->hook_panel()->set_filter_text(o.filter);
        CollectDialog* again = w_->collect_activations();
        QVERIFY(again);
        QCOMPARE(again->prompts()->text(), q(o.prompts));
        QCOMPARE(again->folder()->text(), q(o.out));
        QCOMPARE(again->shard_size()->text(), o.shard_size);
        QCOMPARE(again->batch_prompts()->value(), 2);
        QCOMPARE(again->max_positions()->value(), 128); // the context
        again->accept();
        QVERIFY(finished.wait(60'000) || finished.size() == 1);
        bool keeping = false;
        for (const auto& args : status)
            keeping |= args.at(0).toString().startsWith(QString("Keeping %1 finished shard(s)").arg(kept));
        QVERIFY(keeping);

        Options cli = o;
        cli.out = dir() / "resumed-cli";
        const CliResult r = collect_cli(kGpt2, cli);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(files_of(o.out) == files_of(cli.out));
    }

    void filterSelectingAttentionMatricesIsRefusedInTheBridgesWords_data() {
        QTest::addColumn<QString>("filter");
        QTest::newRow("pattern") << "blocks.0.hook_resid_pre,blocks.*.attn.hook_pattern";
        QTest::newRow("nothing") << "blocks.9.hook_resid_pre";
    }

    void filterSelectingAttentionMatricesIsRefusedInTheBridgesWords() {
        QFETCH(QString, filter);
        Options o;
        o.prompts = write_token_prompts(dir() / "refused.jsonl", 3, 5);
        o.filter = filter;
        o.out = dir() / "refused";
        CollectDialog* d = fill_dialog(*w_, o);
        QVERIFY(d);
        d->accept();
        const QString expected = bridge_refusal(kGpt2, filter);
        QVERIFY(!expected.isEmpty());
        QVERIFY(d->isVisible()); // refused: the dialog stays open
        QCOMPARE(d->error()->text(), expected);
        QVERIFY(!w_->runner()->busy()); // no collect started
        QVERIFY(!fs::exists(o.out));
        d->reject();
    }

    void badPromptsAndOccupiedFoldersFailNamingThem() {
        struct Case {
            const char* name;
            std::string prompts;
            fs::path out;
            QString message;
        };
        write_bytes(dir() / "a-file", "x");
        const std::vector<Case> cases{
            {"bad line", "{\"tokens\": [1, 2]}\n{\"text\": 5}\n", dir() / "bad", "bad.jsonl:2"},
            {"unwritable folder", "{\"tokens\": [1, 2]}\n", dir() / "a-file" / "sub",
             "cannot create the dataset folder"},
            {"another dataset", "{\"tokens\": [1, 2]}\n", dir() / "window", "made differently"},
        };
        for (const Case& c : cases) {
            Options o;
            o.prompts = dir() / "bad.jsonl";
            write_bytes(o.prompts, c.prompts);
            o.out = c.out;
            QSignalSpy failed(w_.get(), &MainWindow::errorShown);
            CollectDialog* d = fill_dialog(*w_, o);
            QVERIFY(d);
            d->accept();
            QVERIFY2(failed.wait(60'000) || failed.size() == 1, c.name);
            QCOMPARE(failed.first().at(0).toString(), QString("Collecting activations"));
            QVERIFY2(failed.first().at(1).toString().contains(c.message), qPrintable(failed.first().at(1).toString()));
            QVERIFY(w_->findChild<QMessageBox*>("errorDialog"));
            QVERIFY(!w_->datasets()->progress_widget()->isVisibleTo(w_.get()));
            close_error_dialogs(*w_);
        }
        QVERIFY(!fs::exists(dir() / "bad" / kManifestName));
    }

    void openingADatasetShowsItsSummary_data() {
        QTest::addColumn<bool>("manifest_file");
        QTest::newRow("folder") << false;
        QTest::newRow("manifest.json") << true;
    }

    void openingADatasetShowsItsSummary() {
        QFETCH(bool, manifest_file);
        const fs::path folder = dir() / "window";
        QSignalSpy opened(w_->datasets(), &DatasetJobs::datasetOpened);
        w_->open_cache(q(manifest_file ? folder / kManifestName : folder));
        QCOMPARE(opened.size(), 1);
        auto* d = opened.first().at(0).value<DatasetDialog*>();
        QVERIFY(d && d->isVisible());
        const DatasetManifest m = *read_manifest(folder);
        QCOMPARE(d->field("prompts"), QString::number(m.prompts));
        QCOMPARE(d->field("tokens"), QString::number(m.tokens));
        QCOMPARE(d->field("cut_prompts"), QString::number(m.cut_prompts));
        QCOMPARE(d->field("names_filter"), QString::fromStdString(m.identity.names_filter));
        QVERIFY(d->field("model").startsWith(QString::fromStdString(m.identity.model)));
        QCOMPARE(d->hooks()->topLevelItemCount(), static_cast<int>(m.hook_points.size()));
        for (int i = 0; i < d->hooks()->topLevelItemCount(); ++i) {
            const json& hook = m.hook_points[static_cast<std::size_t>(i)];
            QCOMPARE(d->hooks()->topLevelItem(i)->text(0), QString::fromStdString(hook["name"].get<std::string>()));
            QVERIFY(d->hooks()->topLevelItem(i)->text(1).startsWith("[T, "));
        }
        QCOMPARE(d->hooks()->topLevelItem(1)->text(1), QString("[T, H=4, 16]")); // blocks.1.attn.hook_z: 4 heads of 16
        QCOMPARE(d->shards()->topLevelItemCount(), static_cast<int>(m.shards.size()));
        for (int i = 0; i < d->shards()->topLevelItemCount(); ++i) {
            const ShardRecord& s = m.shards[static_cast<std::size_t>(i)];
            QCOMPARE(d->shards()->topLevelItem(i)->text(0), QString::fromStdString(s.file));
            QCOMPARE(d->shards()->topLevelItem(i)->text(1), QString::number(s.rank));
            QCOMPARE(d->shards()->topLevelItem(i)->text(2),
                     QString("%1..%2").arg(s.prompt_ranges.front().first).arg(s.prompt_ranges.front().second - 1));
        }
        d->close();
    }

    void malformedManifestGivesAnErrorNamingIt() {
        const fs::path folder = dir() / "malformed";
        fs::create_directories(folder);
        write_bytes(folder / kManifestName, "{\"format\": \"hookscope.activation_dataset.v1\", \"model\": 3}");
        QSignalSpy failed(w_.get(), &MainWindow::errorShown);
        QSignalSpy opened(w_->datasets(), &DatasetJobs::datasetOpened);
        w_->open_cache(q(folder));
        QCOMPARE(opened.size(), 0);
        QCOMPARE(failed.size(), 1);
        const QString message = failed.first().at(1).toString();
        QVERIFY2(message.contains(q(folder / kManifestName)) && message.contains("model"), qPrintable(message));
        QVERIFY(w_->findChild<QMessageBox*>("errorDialog"));
        close_error_dialogs(*w_);
    }

    void verifyCatchesACorruptedShard() {
        const fs::path folder = dir() / "verified";
        fs::copy(dir() / "window", folder);
        QSignalSpy opened(w_->datasets(), &DatasetJobs::datasetOpened);
        w_->open_cache(q(folder));
        QCOMPARE(opened.size(), 1);
        auto* d = opened.first().at(0).value<DatasetDialog*>();
        QSignalSpy verified(d, &DatasetDialog::verified);
        d->verify_button()->click();
        QVERIFY(verified.wait(60'000) || verified.size() == 1);
        QVERIFY2(verified.first().at(0).toBool(), qPrintable(verified.first().at(1).toString()));

        // One byte changed in the last shard's tensor data.
        const std::string shard = d->summary().shards.back().file;
        std::string bytes = read_bytes(folder / shard);
        bytes[bytes.size() - 3] ^= 0x01;
        write_bytes(folder / shard, bytes);
        verified.clear();
        d->verify_button()->click();
        QVERIFY(verified.wait(60'000) || verified.size() == 1);
        QVERIFY(!verified.first().at(0).toBool());
        const QString message = verified.first().at(1).toString();
        QVERIFY2(message.contains(q(folder / shard) + " is damaged"), qPrintable(message));
        QVERIFY2(message.startsWith(QString("1 of %1 shards").arg(d->summary().shards.size())), qPrintable(message));
        QCOMPARE(d->verify_result()->text(), message);
        d->close();
    }

    // Last: it loads another model. Text prompts are encoded as the command line
    // encodes them, BOS as the checkbox says.
    void textPromptsAreEncodedAsTheCommandLineDoes() {
        const fs::path kjv = fs::path(HOOKSCOPE_FIXTURES) / ".." / ".." / "resources" / "models" / "kjv-gpt2";
        const fs::path model = fs::canonical(kjv);
        load(*w_, model);
        Options o;
        o.prompts = dir() / "text.txt";
        write_bytes(o.prompts, "In the beginning God created the heaven and the earth.\n\nAnd the earth was "
                               "without form, and void.\nAnd God said, Let there be light\n");
        o.filter = "blocks.0.hook_resid_post";
        o.prepend_bos = false;
        o.out = dir() / "text-window";
        collect_in_window(*w_, o);
        Options cli = o;
        cli.out = dir() / "text-cli";
        const CliResult r = collect_cli(model, cli);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(files_of(o.out) == files_of(cli.out));
        QCOMPARE(read_manifest(o.out)->prompts, 3);
    }

    void cleanupTestCase() { w_.reset(); }
};

HOOKSCOPE_TEST_MAIN(TestCollectDialog)

} // namespace tst_collect_dialog
#include "tst_collect_dialog.moc"
