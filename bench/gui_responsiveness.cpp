// GUI responsiveness, on the real window (offscreen):
//   stall        the longest gap in the GUI thread's event loop (a 2 ms timer) while
//                a GPT-2-small-shaped model (random weights, written as a checkpoint)
//                generates 64 tokens after 32 and the recompute captures every hook
//                point; target under 50 ms
//   heatmap      time to redraw the attention heatmap after a head change at 1024
//                positions (slice, colour range, cells, replot); target under 30 ms
//   filter       time from a keystroke in the filter box to the updated tree, for a
//                32-layer Llama-shaped model's full hook set; target under 20 ms
// Medians of repeated runs, as one JSON object.
//
// usage: bench_gui [--reps N] [--smoke]

#include "bench/args.h"
#include "bench/shapes.h"
#include "bench/timing.h"
#include "bridge/core/model_config.h"
#include "bridge/model/activation_cache.h"
#include "bridge/model/safetensors.h"
#include "ui/attention_view.h"
#include "ui/hook_panel.h"
#include "ui/main_window.h"
#include "ui/prompt_panel.h"
#include "ui/runner/model_runner.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <QApplication>
#include <QCheckBox>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <fstream>
#include <iostream>

using namespace hookscope;
using namespace hookscope::bench;
using nlohmann::json;

namespace {

// Waits for `signal` of `sender` with the event loop running.
template <typename Sender, typename Signal> void wait_for(Sender* sender, Signal signal) {
    QEventLoop loop;
    QObject::connect(sender, signal, &loop, &QEventLoop::quit);
    loop.exec();
}

// A GPT-2 checkpoint folder with random weights of `config`'s shape.
void write_checkpoint(const std::filesystem::path& folder, const std::string& config_json, const ModelConfig& c) {
    std::filesystem::create_directories(folder);
    std::ofstream(folder / "config.json") << config_json;
    write_safetensors(folder / "model.safetensors", bench::random_gpt2_weights(c));
}

// The longest gaps between ticks of a 2 ms timer, per phase of one generation.
struct Stalls {
    double generation_ms = 0, recompute_and_views_ms = 0;
};

Stalls measure_generation(ui::MainWindow& window) {
    QElapsedTimer clock;
    clock.start();
    qint64 last = 0;
    double worst = 0;
    QTimer ticker;
    ticker.setInterval(2);
    QObject::connect(&ticker, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        worst = std::max(worst, static_cast<double>(now - last) / 1e6);
        last = now;
    });
    Stalls s;
    const QMetaObject::Connection phase =
        QObject::connect(window.runner(), &ui::ModelRunner::recomputeStarted, &window, [&] {
            s.generation_ms = worst;
            worst = 0;
        });
    last = clock.nsecsElapsed();
    ticker.start();
    window.generate();
    wait_for(&window, &ui::MainWindow::cacheShown);
    wait_for(window.hook_panel(), &ui::HookPanel::statsReady); // statistics land in the tree
    QCoreApplication::processEvents();
    s.recompute_and_views_ms = worst;
    ticker.stop();
    QObject::disconnect(phase);
    return s;
}

} // namespace

int main(int argc, char** argv) {
    int reps = 5;
    bool smoke = false;
    const bool parsed = BenchArgs("bench_gui").integer("--reps", reps, 1).flag("--smoke", smoke).parse(argc, argv);
    if (!parsed) return 2;
    if (smoke) reps = 1;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    at::manual_seed(0);
    json out;
    out["benchmark"] = "gui";
    out["reps"] = reps;

    // 1. Event-loop stalls during generation and recompute.
    QTemporaryDir dir;
    const std::string config_json =
        smoke
            ? R"({"model_type": "gpt2", "n_layer": 2, "n_head": 4, "n_embd": 128, "n_positions": 256, "vocab_size": 1000})"
            : R"({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257})";
    const ModelConfig config = parse_model_config(config_json, "bench");
    const std::filesystem::path folder = std::filesystem::path(dir.path().toStdString()) / "gpt2";
    write_checkpoint(folder, config_json, config);
    const int64_t prompt = 32, new_tokens = smoke ? 8 : 64;
    std::vector<double> generation_stall, recompute_stall;
    {
        ui::MainWindow window;
        window.resize(1600, 1000);
        window.show();
        window.open_model(QString::fromStdString(folder.string()));
        wait_for(window.runner(), &ui::ModelRunner::modelLoaded);
        QStringList ids;
        for (int64_t i = 0; i < prompt; ++i)
            ids << QString::number((i * 7919 + 13) % config.d_vocab);
        window.prompt_panel()->prompt_edit()->setPlainText(ids.join(' '));
        window.prompt_panel()->max_new_tokens()->setValue(static_cast<int>(new_tokens));
        window.prompt_panel()->greedy()->setChecked(true);
        for (int r = 0; r < reps; ++r) {
            const Stalls s = measure_generation(window);
            generation_stall.push_back(s.generation_ms);
            recompute_stall.push_back(s.recompute_and_views_ms);
        }
    }
    out["stall"] = {{"model", smoke ? "gpt2 2x128 (smoke)" : "gpt2-small shape, random weights"},
                    {"prompt_tokens", prompt},
                    {"new_tokens", new_tokens},
                    {"generation_longest_stall_ms_median", median(generation_stall)},
                    {"recompute_and_views_longest_stall_ms_median", median(recompute_stall)},
                    {"generation_all", generation_stall},
                    {"recompute_and_views_all", recompute_stall},
                    {"target_ms_at_most", 50}};

    // 2. Attention heatmap redraw after a head change.
    const int64_t positions = smoke ? 128 : 1024, heads = 12;
    {
        auto cache =
            std::make_shared<ActivationCache>(std::vector<int64_t>(static_cast<std::size_t>(positions), 0), "");
        const at::Tensor scores = at::randn({1, heads, positions, positions});
        const at::Tensor future = at::ones({positions, positions}, at::kBool).triu(1);
        cache->add("blocks.0.attn.hook_pattern", at::softmax(scores.masked_fill(future, -INFINITY), -1));
        QStringList labels;
        for (int64_t i = 0; i < positions; ++i)
            labels << QStringLiteral("tok%1").arg(i);
        ui::AttentionView view;
        view.resize(1100, 800);
        view.show();
        view.set_cache(cache, labels, 1, heads, heads);
        QCoreApplication::processEvents();
        std::vector<double> redraw;
        for (int r = 0; r < reps; ++r) {
            for (int64_t h = 0; h < heads; ++h) {
                QElapsedTimer t;
                t.start();
                view.show_head(0, (h + 1) % heads);
                view.heatmap()->replot(QCustomPlot::rpImmediateRefresh);
                redraw.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
            }
        }
        out["heatmap"] = {{"positions", positions},
                          {"redraw_ms_median", median(redraw)},
                          {"redraw_ms_max", *std::max_element(redraw.begin(), redraw.end())},
                          {"target_ms_at_most", 30}};
    }

    // 3. Filter keystrokes over a 32-layer model's hook set.
    {
        const ModelConfig llama = parse_model_config(
            R"({"model_type": "llama", "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                "hidden_size": 4096, "intermediate_size": 14336, "vocab_size": 128256, "max_position_embeddings": 8192})",
            "bench");
        const std::vector<HookInfo> hooks = hook_points_for(llama);
        ui::HookPanel panel;
        panel.resize(500, 900);
        panel.show();
        panel.set_model_hooks(hooks);
        QCoreApplication::processEvents();
        const std::string typed = "blocks.*.attn.hook_pattern";
        std::vector<double> keystroke;
        json per_prefix = json::object();
        for (int r = 0; r < reps; ++r) {
            for (std::size_t n = 1; n <= typed.size(); ++n) {
                QElapsedTimer t;
                t.start();
                panel.filter_edit()->setText(QString::fromStdString(typed.substr(0, n)));
                QCoreApplication::processEvents(); // the tree lays out and paints
                keystroke.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
                if (r == 0) per_prefix[typed.substr(0, n)] = keystroke.back();
            }
            panel.filter_edit()->clear();
            QCoreApplication::processEvents();
        }
        out["filter"] = {{"hook_points", hooks.size()},
                         {"keystroke_ms_median", median(keystroke)},
                         {"keystroke_ms_max", *std::max_element(keystroke.begin(), keystroke.end())},
                         {"target_ms_at_most", 20},
                         {"first_pass_ms", per_prefix}};
    }
    std::cout << out.dump(2) << "\n";
    return 0;
}
