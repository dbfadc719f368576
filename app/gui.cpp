#include "app/gui.h"

#include "app/cli.h"
#include "app/options.h"
#include "bridge/threads.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"

#include <QApplication>
#include <QPlainTextEdit>

#include <iostream>

namespace hookscope::app {

int run_gui(int argc, char** argv, const std::vector<std::string>& args) {
    std::optional<cli::Options> options;
    std::optional<Precision> precision;
    try {
        options.emplace(args, cli::OptionSpec{{}, {"--model", "--prompt", "--dtype", "--threads"}, {}, 0}, "hookscope");
        precision = parse_precision(options->value("--dtype").value_or("float32"));
        if (!precision) throw cli::UsageError("--dtype must be float32 or bfloat16");
        apply_thread_split(default_thread_split(options->positive_int("--threads").value_or(0)));
    } catch (const cli::UsageError& e) {
        std::cerr << "hookscope: " << e.what() << " (see hookscope --help)\n";
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
    }
    window.show();
    if (const auto model = options->value("--model")) {
        window.open_model(QString::fromStdString(*model));
    } else if (const auto bundled = cli::bundled_model()) {
        window.open_model(QString::fromStdString(bundled->string()));
    }
    return QApplication::exec();
}

} // namespace hookscope::app
