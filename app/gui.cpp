#include "app/gui.h"

#include "app/cli/commands.h"
#include "app/cli/options.h"
#include "app/cli/version.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/threads.h"
#include "ui/attention_view.h"
#include "ui/lens_view.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/scale_editor.h"
#include "ui/steering_dialog.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QDialog>
#include <QIcon>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSize>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>

#include <functional>
#include <iostream>
#include <memory>

namespace hookscope::app {

namespace {

constexpr QSize kScreenshotSize(1600, 1000);
constexpr int kScreenshotTimeoutMs = 10 * 60 * 1000;

// The bundled model's example prompt: a verse begun twice, so that the continuation
// copies it and the induction heads show.
constexpr const char* kExamplePrompt =
    "In the beginning God created the heaven and the earth. And the earth was without form, and void. "
    "In the beginning God created the heaven";

struct Head {
    int64_t layer = 1, head = 1; // clamped to the model's
};

// --head L.H
Head parse_head(const std::string& text) {
    const QStringList parts = QString::fromStdString(text).split('.');
    bool ok_layer = false, ok_head = false;
    Head h;
    if (parts.size() == 2) {
        h.layer = parts[0].toLongLong(&ok_layer);
        h.head = parts[1].toLongLong(&ok_head);
    }
    if (!ok_layer || !ok_head || h.layer < 0 || h.head < 0) {
        throw cli::UsageError("--head must be LAYER.HEAD, e.g. 1.4, got `" + text + "`");
    }
    return h;
}

// --size WIDTHxHEIGHT, each at least 320 and at most 8192 pixels.
QSize parse_size(const std::string& text) {
    const QStringList parts = QString::fromStdString(text).split('x');
    bool ok_width = false, ok_height = false;
    const int width = parts.size() == 2 ? parts[0].toInt(&ok_width) : 0;
    const int height = parts.size() == 2 ? parts[1].toInt(&ok_height) : 0;
    const auto in_range = [](int n) { return n >= 320 && n <= 8192; };
    if (!ok_width || !ok_height || !in_range(width) || !in_range(height)) {
        throw cli::UsageError("--size must be WIDTHxHEIGHT in pixels (320 to 8192 each), e.g. 1280x800, got `" + text +
                              "`");
    }
    return {width, height};
}

// Lets the plots draw, then saves what the window shows.
template <typename Fail> void save_window(QWidget& window, const QString& file, Fail fail, const QString& what) {
    QTimer::singleShot(200, &window, [&window, file, fail, what] {
        const QImage image = window.grab().toImage();
        if (!image.save(file)) return fail("cannot write " + file);
        std::cout << "saved " << file.toStdString() << " (" << image.width() << "x" << image.height() << ", "
                  << what.toStdString() << ")\n";
        QApplication::exit(cli::kOk);
    });
}

// --view patching: pins the run in view as the clean run, runs it again with its
// second-to-last token replaced (the corrupted run, the same length) and sweeps.
void plan_patching(ui::MainWindow& window) {
    auto corrupted = std::make_shared<bool>(false);
    QObject::connect(&window, &ui::MainWindow::cacheShown, &window, [&window, corrupted] {
        if (!*corrupted) {
            *corrupted = true;
            window.pin_run();
            std::vector<int64_t> tokens = window.cache()->tokens();
            auto& changed = tokens[tokens.size() >= 2 ? tokens.size() - 2 : 0];
            changed = (changed + 1) % window.runner()->summary()->d_vocab;
            QStringList ids;
            for (int64_t t : tokens)
                ids << QString::number(t);
            ui::PromptPanel* panel = window.prompt_panel();
            panel->token_mode()->setEnabled(true);
            panel->token_mode()->setChecked(true);
            panel->prompt_edit()->setPlainText(ids.join(' '));
            window.run_prompt();
            return;
        }
        if (auto* dialog = window.findChild<QDialog*>("patchingDialog")) dialog->show();
        if (auto* run = window.findChild<QPushButton*>("patchingRun")) run->click();
    });
}

// --view steering: makes a steering vector from the run in view (its middle block's
// residual stream at the prompt's last position, scaled up) with the Make steering
// vector dialog, and generates again with it: the steered text beside the unsteered.
void plan_steering(ui::MainWindow& window, const QString& file, const std::function<void(const QString&)>& fail) {
    auto steered = std::make_shared<bool>(false);
    auto folder = std::make_shared<QTemporaryDir>();
    QObject::connect(&window, &ui::MainWindow::cacheShown, &window, [&window, file, fail, steered, folder] {
        if (*steered) return save_window(window, file, fail, QStringLiteral("steered beside unsteered"));
        *steered = true;
        const int64_t layer = window.runner()->summary()->layers / 2;
        ui::SteeringDialog* dialog = window.make_steering_vector(QStringLiteral("blocks.%1.hook_resid_pre").arg(layer));
        if (!dialog) return;
        dialog->path()->setText(folder->filePath("steering.safetensors"));
        dialog->scale()->set_value(2);
        dialog->accept();
        if (dialog->error()->isVisible()) return fail(dialog->error()->text());
        if (auto* compare = window.findChild<QAction*>("compareSteeringAction")) compare->setChecked(true);
        window.generate();
    });
}

// --screenshot: load, generate greedily, select an attention head (or show the logit
// lens, sweep patching, or steer), save the window.
void plan_screenshot(ui::MainWindow& window, const QString& file, QSize size, const std::optional<std::string>& prompt,
                     int max_new_tokens, Head head, bool lens, bool patching, bool steering) {
    window.resize(size);
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
    if (steering) {
        plan_steering(window, file, fail);
        QTimer::singleShot(kScreenshotTimeoutMs, &window, [fail] { fail("timed out"); });
        return;
    }
    if (patching) {
        plan_patching(window);
        QObject::connect(&window, &ui::MainWindow::patchingShown, &window, [&window, file, fail] {
            auto* dialog = window.findChild<QDialog*>("patchingDialog");
            save_window(*dialog, file, fail, QStringLiteral("patching"));
        });
        QTimer::singleShot(kScreenshotTimeoutMs, &window, [fail] { fail("timed out"); });
        return;
    }
    QObject::connect(&window, &ui::MainWindow::cacheShown, &window, [&window, file, fail, head, lens] {
        const auto& s = *window.runner()->summary();
        const int64_t layer = std::min<int64_t>(head.layer, s.layers - 1);
        window.select_hook(QStringLiteral("blocks.%1.attn.hook_pattern").arg(layer));
        const int64_t shown = std::min<int64_t>(head.head, s.heads - 1);
        window.attention_view()->show_head(layer, shown);
        if (lens) {
            window.view_tabs()->setCurrentWidget(window.lens_view()); // computes the lens
            return;
        }
        save_window(window, file, fail, QStringLiteral("attention of layer %1 head %2").arg(layer).arg(shown));
    });
    QObject::connect(&window, &ui::MainWindow::lensShown, &window,
                     [&window, file, fail] { save_window(window, file, fail, QStringLiteral("logit lens")); });
    QTimer::singleShot(kScreenshotTimeoutMs, &window, [fail] { fail("timed out"); });
}

} // namespace

int run_gui(int argc, char** argv, const std::vector<std::string>& args) {
    std::optional<cli::Options> options;
    std::optional<Precision> precision;
    int max_new_tokens = 20;
    Head head;
    QSize size = kScreenshotSize;
    std::string view;
    std::optional<std::optional<CacheLimit>> cache_limit;
    try {
        options.emplace(args,
                        cli::OptionSpec{{},
                                        {"--model", "--prompt", "--dtype", "--threads", "--screenshot",
                                         "--max-new-tokens", "--head", "--cache-limit", "--view", "--size"},
                                        {},
                                        0},
                        "hookscope");
        precision = parse_precision(options->value("--dtype").value_or("float32"));
        if (!precision) throw cli::UsageError("--dtype must be float32 or bfloat16");
        max_new_tokens = static_cast<int>(options->unsigned_int("--max-new-tokens").value_or(20));
        if (const auto h = options->value("--head")) head = parse_head(*h);
        if (const auto s = options->value("--size")) size = parse_size(*s);
        view = options->value("--view").value_or("attention");
        if (view != "attention" && view != "lens" && view != "patching" && view != "steering")
            throw cli::UsageError("--view must be attention, lens, patching or steering, got `" + view + "`");
        if (const auto limit = options->value("--cache-limit")) cache_limit = cli::parse_cache_limit(*limit);
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
    // The installed .desktop entry (packaging/), which Wayland matches windows to.
    QGuiApplication::setDesktopFileName("io.github.hookscope.hookscope");
    QIcon icon;
    for (const int size : {HOOKSCOPE_ICON_SIZES}) // the packaged PNGs (HOOKSCOPE_ICON_SIZES in CMake)
        icon.addFile(QString(":/icons/hookscope-%1.png").arg(size), QSize(size, size));
    QApplication::setWindowIcon(icon);

    ui::MainWindow window;
    window.set_about_text(QString::fromStdString(version_report()).trimmed());
    if (options->value("--dtype")) window.set_precision(*precision);
    if (cache_limit) window.set_cache_limit(*cache_limit);
    std::optional<std::string> prompt = options->value("--prompt");
    const bool bundled = model && !options->value("--model");
    if (!prompt && bundled && (screenshot || window.prompt_panel()->prompt_edit()->toPlainText().isEmpty())) {
        prompt = kExamplePrompt; // the first start on the bundled model
    }
    if (prompt) window.prompt_panel()->prompt_edit()->setPlainText(QString::fromStdString(*prompt));
    if (options->value("--max-new-tokens")) window.prompt_panel()->max_new_tokens()->setValue(max_new_tokens);
    if (screenshot)
        plan_screenshot(window, QString::fromStdString(*screenshot), size, prompt, max_new_tokens, head, view == "lens",
                        view == "patching", view == "steering");
    window.show();
    if (model) { // inside the event loop, so that an early failure can end it
        QTimer::singleShot(0, &window,
                           [&window, folder = QString::fromStdString(model->string())] { window.open_model(folder); });
    }
    return QApplication::exec();
}

} // namespace hookscope::app
