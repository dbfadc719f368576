// Steering vectors made in the window: the dialog writes the vector the runs give and
// adds its row; the panel's scale slider rewrites an add: row; a steered generation
// is shown beside the one without its add: rows, with the same seed.

#include "bridge/io/intervention_files.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/generate.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/text/prompt.h"
#include "support/main_window_test.h"
#include "support/test_main.h"
#include "ui/hook_panel.h"
#include "ui/intervention_list_model.h"
#include "ui/intervention_panel.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/run_views.h"
#include "ui/runner/steering_job.h"
#include "ui/scale_editor.h"
#include "ui/steering_dialog.h"
#include "ui/token_view.h"
#include "ui/unsteered_pane.h"

#include <ATen/ATen.h>

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

namespace tst_steering {

using namespace hookscope;
using namespace hookscope::ui;
using namespace hookscope::test;

namespace {

void run_prompt(MainWindow& w, const QString& ids) {
    w.prompt_panel()->prompt_edit()->setPlainText(ids);
    QSignalSpy shown(&w, &MainWindow::cacheShown);
    QVERIFY(w.run_prompt());
    QVERIFY(shown.wait(60'000));
}

void generate(MainWindow& w) {
    QSignalSpy shown(&w, &MainWindow::cacheShown);
    QVERIFY(w.generate());
    QVERIFY(shown.wait(60'000));
}

// The new tokens bridge generate gives for `prompt` with `specs`, as the window asks.
std::vector<int64_t> generated(const Model& model, const std::vector<int64_t>& prompt,
                               const std::vector<std::string>& specs, int64_t max_new_tokens, bool greedy,
                               std::optional<uint64_t> seed) {
    GenerateOptions o;
    o.max_new_tokens = max_new_tokens;
    o.eos_ids = read_special_tokens(kGpt2, nullptr).eos;
    o.sampling.do_sample = !greedy;
    o.seed = seed;
    InterventionContext context;
    context.first_pass_length = static_cast<int64_t>(prompt.size());
    context.max_positions = planned_positions(context.first_pass_length, max_new_tokens, model.config().n_ctx);
    o.interventions = load_interventions(specs, model, context);
    const GenerateResult g = hookscope::generate(model, prompt, o);
    return {g.tokens.begin() + g.prompt_length, g.tokens.end()};
}

std::vector<int64_t> new_tokens(const MainWindow& w) {
    const std::vector<int64_t>& all = w.last_run()->tokens;
    return {all.begin() + w.last_run()->prompt_length, all.end()};
}

} // namespace

class TestSteering : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { isolate_settings(); }

    // Pinned run minus this run at the chosen hook and position, written as the file's
    // `steering` tensor, and the row that adds it at the chosen scale; one head's
    // activation of this run alone, added at chosen positions.
    void dialogWritesTheVectorAndAddsItsRow() {
        QDir(steering_folder()).removeRecursively(); // the test-mode folder, from an earlier run
        MainWindow w;
        load(w, kGpt2);
        run_prompt(w, "0 17 42 99");
        w.pin_run();
        const std::shared_ptr<const ActivationCache> pinned = w.cache();
        run_prompt(w, "5 6 7 8");

        SteeringDialog* dialog = w.make_steering_vector("blocks.1.hook_resid_pre");
        QVERIFY(dialog);
        QCOMPARE(dialog->hook()->currentText(), QString("blocks.1.hook_resid_pre"));
        QVERIFY(!dialog->head()->isEnabled());    // no head axis
        QCOMPARE(dialog->position()->value(), 3); // the prompt's last position
        QVERIFY(dialog->from_pinned()->isEnabled() && dialog->from_pinned()->isChecked());
        const QString path = dialog->path()->text();
        QCOMPARE(path, steering_folder() + "/blocks.1.hook_resid_pre.pos3.safetensors");
        dialog->scale()->spin_box()->setValue(2.5);
        QCOMPARE(dialog->scale()->slider()->value(), 25);
        dialog->accept();
        QVERIFY(!dialog->error()->isVisible());

        const auto file = SafetensorsFile::open(path.toStdString());
        const at::Tensor v = file->tensor("steering");
        const at::Tensor want =
            (*pinned)["blocks.1.hook_resid_pre"][0][3] - (*w.cache())["blocks.1.hook_resid_pre"][0][3];
        QCOMPARE(v.sizes().vec(), std::vector<int64_t>{64});
        QCOMPARE(v.scalar_type(), at::kFloat);
        QVERIFY(at::equal(v, want));
        QCOMPARE(file->metadata().at("hook"), std::string("blocks.1.hook_resid_pre"));
        QCOMPARE(file->metadata().at("source"), std::string("pinned - this"));
        QCOMPARE(file->metadata().at("toward_tokens"), std::string("[0,17,42,99]"));
        const QString spec = "blocks.1.hook_resid_pre=add:" + path + "#steering*2.5";
        QCOMPARE(w.intervention_panel()->rows().back().text, spec);
        QCOMPARE(w.intervention_panel()->applied(), std::vector<std::string>{spec.toStdString()});

        // One head of hook_z, from this run alone, added at positions 1-2; the hook
        // tree's menu opens the dialog on its hook.
        QAction* make =
            w.hook_panel()->intervention_menu("blocks.0.attn.hook_z", &w)->findChild<QAction*>("makeSteering");
        QVERIFY(make && make->isEnabled());
        make->trigger();
        dialog = w.findChildren<SteeringDialog*>().back();
        QCOMPARE(dialog->hook()->currentText(), QString("blocks.0.attn.hook_z"));
        QVERIFY(dialog->head()->isEnabled());
        dialog->head()->setCurrentIndex(3); // after "all heads": head 2
        dialog->this_run()->setChecked(true);
        dialog->positions()->setText("1-2");
        const QString head_path = dialog->path()->text();
        QVERIFY(head_path.endsWith("blocks.0.attn.hook_z.head2.pos3.safetensors"));
        dialog->accept();
        const at::Tensor h = SafetensorsFile::open(head_path.toStdString())->tensor("steering");
        QVERIFY(at::equal(h, (*w.cache())["blocks.0.attn.hook_z"][0][3][2]));
        QCOMPARE(w.intervention_panel()->rows().back().text,
                 "blocks.0.attn.hook_z@2:1-2=add:" + head_path + "#steering*1");
        QCOMPARE(w.intervention_panel()->applied().size(), std::size_t(2));

        // The same hook and position again: a new file, the first one kept.
        dialog = w.make_steering_vector("blocks.1.hook_resid_pre");
        QVERIFY(dialog->path()->text().endsWith("blocks.1.hook_resid_pre.pos3-2.safetensors"));
        dialog->reject();
    }

    // Runs of different lengths, a file that cannot be written and a pinned run without
    // the hook are each said, and leave no file and no row.
    void problemsAreSaidAndLeaveNoFile() {
        QTemporaryDir dir;
        MainWindow w;
        load(w, kGpt2);
        run_prompt(w, "0 17 42 99");
        w.pin_run();
        run_prompt(w, "1 2 3 4 5");
        const std::size_t rows = w.intervention_panel()->rows().size();
        SteeringDialog* dialog = w.make_steering_vector("blocks.1.hook_resid_pre");
        QCOMPARE(dialog->position()->value(), 4);
        QVERIFY(!dialog->from_pinned()->isEnabled()); // the pinned run has 4 positions
        QVERIFY(dialog->this_run()->isChecked());
        dialog->position()->setValue(2);
        QVERIFY(dialog->from_pinned()->isEnabled());
        dialog->from_pinned()->setChecked(true);
        const QString path = dir.filePath("diff.safetensors");
        dialog->path()->setText(path);
        QVERIFY(!dialog->make());
        QVERIFY2(dialog->error()->text().contains("same length"), qPrintable(dialog->error()->text()));
        QVERIFY(!QFile::exists(path));

        QFile blocker(dir.filePath("not-a-folder"));
        QVERIFY(blocker.open(QIODevice::WriteOnly));
        blocker.close();
        dialog->this_run()->setChecked(true);
        const QString unwritable = dir.filePath("not-a-folder/v.safetensors");
        dialog->path()->setText(unwritable);
        QVERIFY(!dialog->make());
        QVERIFY2(dialog->error()->text().contains("cannot write"), qPrintable(dialog->error()->text()));
        QVERIFY(!QFile::exists(unwritable));
        dialog->path()->setText(dir.filePath("a#b.safetensors"));
        QVERIFY(!dialog->make());
        QVERIFY(dialog->error()->text().contains("'#'"));
        QCOMPARE(w.intervention_panel()->rows().size(), rows);
        dialog->reject();

        // A pinned run that did not capture the hook.
        const auto model = Model::load(kGpt2);
        SteeringJob job;
        for (const HookInfo& h : model->hook_points()) {
            if (h.name == "blocks.1.hook_resid_pre") job.hook = h;
        }
        job.position = 1;
        job.run = w.cache();
        job.pinned = std::make_shared<const ActivationCache>(
            model->run_with_cache({1, 2, 3, 4, 5}, NamesFilter("blocks.0.hook_resid_pre")));
        job.path = dir.filePath("missing.safetensors").toStdString();
        const std::string why = write_steering_vector(job);
        QVERIFY2(why.find("the pinned run did not capture `blocks.1.hook_resid_pre`") != std::string::npos,
                 why.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(job.path)));
    }

    // The scale slider is on for an add: row only and rewrites its *SCALE.
    void panelScaleRewritesTheCurrentAddRow() {
        InterventionPanel panel;
        panel.add_spec("blocks.1.hook_resid_pre=add:/v/x.safetensors#steering*2.5");
        panel.add_spec("blocks.0.attn.hook_z@1=zero");
        ScaleEditor* scale = panel.scale_editor();
        QVERIFY(!scale->isEnabled());
        panel.list()->setCurrentIndex(panel.model()->index(0));
        QVERIFY(scale->isEnabled());
        QCOMPARE(scale->value(), 2.5);
        scale->slider()->setValue(40);
        QCOMPARE(panel.rows()[0].text, QString("blocks.1.hook_resid_pre=add:/v/x.safetensors#steering*4"));
        QCOMPARE(scale->spin_box()->value(), 4.0);
        scale->spin_box()->setValue(-1.5);
        QCOMPARE(panel.rows()[0].text, QString("blocks.1.hook_resid_pre=add:/v/x.safetensors#steering*-1.5"));
        QCOMPARE(scale->slider()->value(), -15);
        QCOMPARE(panel.rows()[1].text, QString("blocks.0.attn.hook_z@1=zero"));
        panel.add_spec("blocks.1.hook_resid_pre:2=add:/v/y.safetensors");
        QVERIFY(scale->isEnabled());
        QCOMPARE(scale->value(), 1.0);
        scale->spin_box()->setValue(3);
        QCOMPARE(panel.rows()[2].text, QString("blocks.1.hook_resid_pre:2=add:/v/y.safetensors*3"));
    }

    // Generate with an add: row also generates without it (the zero row kept) with the
    // same seed: the side pane holds what plain generation without the add: row gives,
    // the run what generation with it gives. Greedy, a large vector changes the text.
    void steeredGenerationIsShownBesideTheUnsteeredOne() {
        QTemporaryDir dir;
        const QString vector = dir.filePath("steer.safetensors");
        at::manual_seed(7);
        write_safetensors(vector.toStdString(), {{"steering", at::randn({64})}});
        const std::string zero = "blocks.0.attn.hook_z@1=zero";
        const std::string add = "blocks.1.hook_resid_pre=add:" + vector.toStdString() + "#steering*20";

        MainWindow w;
        load(w, kGpt2);
        UnsteeredPane* pane = w.findChild<UnsteeredPane*>("unsteeredPane");
        QVERIFY(pane);
        QAction* compare = w.findChild<QAction*>("compareSteeringAction");
        QVERIFY(compare && compare->isChecked());
        w.intervention_panel()->add_spec(QString::fromStdString(zero));
        w.intervention_panel()->add_spec(QString::fromStdString(add));
        PromptPanel* prompt = w.prompt_panel();
        prompt->prompt_edit()->setPlainText("0 17 42 99");
        prompt->max_new_tokens()->setValue(8);
        prompt->greedy()->setChecked(false);
        prompt->seed()->setText("1234");
        QSignalSpy side(w.runner(), &ModelRunner::unsteeredTokenGenerated);
        generate(w);
        QVERIFY(!pane->isHidden());
        QCOMPARE(side.size(), 8); // streamed

        const auto model = Model::load(kGpt2);
        const std::vector<int64_t> ids{0, 17, 42, 99};
        const std::vector<int64_t> plain = generated(*model, ids, {zero}, 8, false, 1234);
        const std::vector<int64_t> steered = generated(*model, ids, {zero, add}, 8, false, 1234);
        QCOMPARE(pane->ids(), plain);
        QCOMPARE(new_tokens(w), steered);
        QVERIFY(plain != steered);
        QCOMPARE(w.last_run()->interventions.size(), std::size_t(2));
        QString labels; // the model has no tokenizer: ids as the token strip writes them
        for (const int64_t id : plain)
            labels += QStringLiteral("[%1]").arg(id);
        QCOMPARE(pane->text_edit()->toPlainText(), labels);

        // Without a seed one is drawn and used for both.
        prompt->seed()->clear();
        generate(w);
        QVERIFY(w.last_run()->seed.has_value());
        QCOMPARE(pane->ids(), generated(*model, ids, {zero}, 8, false, w.last_run()->seed));
        QCOMPARE(new_tokens(w), generated(*model, ids, {zero, add}, 8, false, w.last_run()->seed));

        // Greedy: the vector at scale 20 changes the continuation.
        prompt->greedy()->setChecked(true);
        generate(w);
        QCOMPARE(pane->ids(), generated(*model, ids, {zero}, 8, true, std::nullopt));
        QCOMPARE(new_tokens(w), generated(*model, ids, {zero, add}, 8, true, std::nullopt));
        QVERIFY(pane->ids() != new_tokens(w));

        // Switched off (and remembered), or a run of the prompt alone: no pane.
        compare->setChecked(false);
        QCOMPARE(QSettings().value("steering/compare").toBool(), false);
        side.clear();
        generate(w);
        QVERIFY(pane->isHidden());
        QCOMPARE(side.size(), 0);
        compare->setChecked(true);
        run_prompt(w, "0 17 42 99");
        QVERIFY(pane->isHidden());
    }

    // A cancel reaches both generations of the request: queued behind a load, the
    // cancelled request generates nothing with or without the vector.
    void cancelStopsBothGenerations() {
        QTemporaryDir dir;
        const QString vector = dir.filePath("steer.safetensors");
        write_safetensors(vector.toStdString(), {{"steering", at::ones({64})}});
        ModelRunner runner;
        runner.load(QString::fromStdString(kGpt2.string()));
        GenerationRequest request;
        request.token_ids = std::vector<int64_t>{0, 17, 42, 99};
        request.max_new_tokens = 8;
        request.greedy = true;
        request.interventions = {"blocks.1.hook_resid_pre=add:" + vector.toStdString()};
        request.compare_without_steering = true;
        std::optional<RunResult> result;
        connect(&runner, &ModelRunner::finished, this, [&](int, const RunResult& r) { result = r; });
        QSignalSpy finished(&runner, &ModelRunner::finished);
        QSignalSpy side(&runner, &ModelRunner::unsteeredTokenGenerated);
        runner.generate(request); // runs once the load is done
        runner.cancel();
        QVERIFY(finished.wait(60'000));
        QVERIFY(result);
        const RunResult& r = *result;
        QCOMPARE(r.stop_reason, QString("cancelled"));
        QCOMPARE(r.tokens, *request.token_ids);
        QVERIFY(r.unsteered_tokens);
        QCOMPARE(*r.unsteered_tokens, *request.token_ids);
        QCOMPARE(side.size(), 0);
    }
};

HOOKSCOPE_TEST_MAIN(TestSteering)

} // namespace tst_steering
#include "tst_steering.moc"
