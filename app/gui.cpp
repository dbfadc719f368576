#include "app/gui.h"

#include "app/cli.h"
#include "app/options.h"
#include "bridge/threads.h"
#include "ui/attention_view.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"

#include <QApplication>
#include <QCheckBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QTimer>

#include <iostream>

namespace hookscope::app {

namespace {

constexpr int kScreenshotWidth = 1600, kScreenshotHeight = 1000;
constexpr int kScreenshotTimeoutMs = 10 * 60 * 1000;

// --screenshot: load, generate greedily, select an attention head, save the window.
void plan_screenshot(ui::MainWindow& window, const QString& file, const std::optional<std::string>& prompt,
                     int max_new_tokens) {
    window.resize(kScreenshotWidth, kScreenshotHeight);
    const auto fail = [](const QString& message) {
        std::cerr << "hookscope: screenshot: " << message.toStdString() << "\n";
        QApplication::exit(cli::kRunError);
    };
    QObject::connect(&window, &ui::MainWindow::errorShown, &window,
                     [fail](const QString& what, const QString& message) { fail(what + ": " + message); });
    QObject::connect(window.runner(), &ui::ModelRunner::modelLoaded, &window,
                     [&window, prompt, max_new_tokens, fail](int, const ui::ModelSummary& s) {
                         ui::PromptPanel* panel = window.prompt_panel();
                         // Not the remembered modes: text when there is a tokenizer, BOS first.
                         panel->token_mode()->setChecked(!s.tokenizer);
                         panel->prepend_bos()->setChecked(true);
                         QString text = prompt ? QString::fromStdString(*prompt)
                                        : s.tokenizer
                                            ? QStringLiteral("The quick brown fox jumps over the lazy dog. The")
                                            : QStringLiteral("0 17 42 99 128 255 256 300 411 500 7 511");
                         panel->prompt_edit()->setPlainText(text);
                         panel->max_new_tokens()->setValue(max_new_tokens);
                         panel->greedy()->setChecked(true);
                         if (!window.generate()) fail(panel->error_label()->text());
                     });
    QObject::connect(&window, &ui::MainWindow::cacheShown, &window, [&window, file, fail] {
        const auto& s = *window.runner()->summary();
        const int64_t layer = std::min<int64_t>(1, s.layers - 1);
        window.select_hook(QStringLiteral("blocks.%1.attn.hook_pattern").arg(layer));
        window.attention_view()->show_head(layer, std::min<int64_t>(1, s.heads - 1));
        // Let the plots draw, then save what the window shows.
        QTimer::singleShot(200, &window, [&window, file, fail] {
            const QImage image = window.grab().toImage();
            if (!image.save(file)) return fail("cannot write " + file);
            std::cout << "saved " << file.toStdString() << " (" << image.width() << "x" << image.height() << ")\n";
            QApplication::exit(cli::kOk);
        });
    });
    QTimer::singleShot(kScreenshotTimeoutMs, &window, [fail] { fail("timed out"); });
}

} // namespace

int run_gui(int argc, char** argv, const std::vector<std::string>& args) {
    std::optional<cli::Options> options;
    std::optional<Precision> precision;
    int max_new_tokens = 20;
    try {
        options.emplace(
            args,
            cli::OptionSpec{
                {}, {"--model", "--prompt", "--dtype", "--threads", "--screenshot", "--max-new-tokens"}, {}, 0},
            "hookscope");
        precision = parse_precision(options->value("--dtype").value_or("float32"));
        if (!precision) throw cli::UsageError("--dtype must be float32 or bfloat16");
        max_new_tokens = static_cast<int>(options->unsigned_int("--max-new-tokens").value_or(20));
        apply_thread_split(default_thread_split(options->positive_int("--threads").value_or(0)));
    } catch (const cli::UsageError& e) {
        std::cerr << "hookscope: " << e.what() << " (see hookscope --help)\n";
        return cli::kUsageError;
    }
    const auto screenshot = options->value("--screenshot");
    std::optional<std::filesystem::path> model;
    if (const auto m = options->value("--model")) {
        model = *m;
    } else {
        model = cli::bundled_model();
    }
    if (screenshot && !model) {
        std::cerr << "hookscope: --screenshot needs --model (the bundled default model was not found)\n";
        return cli::kUsageError;
    }

    QApplication app(argc, argv);
    QApplication::setOrganizationName("HookScope");
    QApplication::setApplicationName("HookScope");
    QApplication::setApplicationVersion(HOOKSCOPE_VERSION);

    ui::MainWindow window;
    if (options->value("--dtype")) window.set_precision(*precision);
    if (const auto prompt = options->value("--prompt")) {
        window.prompt_panel()->prompt_edit()->setPlainText(QString::fromStdString(*prompt));
    } else if (window.prompt_panel()->prompt_edit()->toPlainText().isEmpty() && !options->value("--model") && model) {
        // First start on the bundled model: a prompt whose continuation shows induction.
        window.prompt_panel()->prompt_edit()->setPlainText(
            "And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them,");
    }
    if (options->value("--max-new-tokens")) window.prompt_panel()->max_new_tokens()->setValue(max_new_tokens);
    if (screenshot) {
        plan_screenshot(window, QString::fromStdString(*screenshot), options->value("--prompt"), max_new_tokens);
    }
    window.show();
    if (model) { // inside the event loop, so that an early failure can end it
        QTimer::singleShot(0, &window,
                           [&window, folder = QString::fromStdString(model->string())] { window.open_model(folder); });
    }
    return QApplication::exec();
}

} // namespace hookscope::app
