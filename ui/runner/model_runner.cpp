#include "ui/runner/model_runner.h"

#include "bridge/core/cache_budget.h"
#include "bridge/core/errors.h"
#include "bridge/core/intervention_spec.h"
#include "bridge/io/intervention_files.h"
#include "bridge/model/checkpoint.h"
#include "bridge/model/generate.h"
#include "bridge/model/model.h"

#include <QMetaObject>

#include <algorithm>
#include <exception>
#include <iterator>

namespace hookscope::ui {

namespace {

std::vector<int64_t> prompt_tokens(const GenerationRequest& request, const Tokenizer* tokenizer,
                                   const SpecialTokens& special) {
    if (request.token_ids) return *request.token_ids;
    if (!tokenizer) {
        throw InputError("this model has no tokenizer (tokenizer.json, or vocab.json and merges.txt): "
                         "switch the prompt to token ids");
    }
    return encode_prompt(*tokenizer, special, request.text.toStdString(), request.prepend_bos);
}

GenerateOptions generate_options(const GenerationRequest& request, const SpecialTokens& special) {
    GenerateOptions o;
    o.max_new_tokens = request.max_new_tokens;
    o.eos_ids = special.eos;
    o.sampling.do_sample = !request.greedy;
    o.sampling.temperature = request.temperature;
    o.sampling.top_k = request.top_k;
    o.sampling.top_p = request.top_p;
    o.sampling.repetition_penalty = request.repetition_penalty;
    o.sampling.freq_penalty = request.freq_penalty;
    o.seed = request.seed;
    o.return_cache = true;
    o.names_filter = NamesFilter(request.names_filter.toStdString());
    return o;
}

// `applied` loaded for one forward over `positions` tokens: the whole input is the
// first pass, and nothing runs past it.
Interventions load_for_forward(const Model& model, const AppliedInterventions& applied, int64_t positions) {
    if (applied.specs.empty()) return {};
    InterventionContext context;
    context.base = applied.base.toStdString();
    context.first_pass_length = context.max_positions = positions;
    context.pinned = applied.pinned.get();
    return load_interventions(applied.specs, model, context);
}

// An `add:` SPEC; text that is no SPEC at all is not, and the run reports it.
bool is_steering(const std::string& text) {
    return steering_scale(text).has_value();
}

} // namespace

bool has_steering(const std::vector<std::string>& specs) {
    return std::any_of(specs.begin(), specs.end(), is_steering);
}

std::vector<std::string> without_steering(const std::vector<std::string>& specs) {
    std::vector<std::string> out;
    std::copy_if(specs.begin(), specs.end(), std::back_inserter(out),
                 [](const std::string& s) { return !is_steering(s); });
    return out;
}

ModelRunner::ModelRunner(QObject* parent) : QObject(parent) {
    thread_.setObjectName("hookscope-model");
    worker_context_ = new QObject; // deleted on its thread when the thread ends
    worker_context_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_context_, &QObject::deleteLater);
    thread_.start();
}

ModelRunner::~ModelRunner() {
    cancel_->store(true);
    thread_.quit(); // after the request in progress; queued ones are dropped
    thread_.wait();
}

int ModelRunner::start_request() {
    cancel_->store(true); // whatever ran before is superseded
    cancel_ = std::make_shared<std::atomic<bool>>(false);
    set_busy(true);
    return ++current_;
}

void ModelRunner::post(std::function<void()> work) {
    QMetaObject::invokeMethod(worker_context_, std::move(work), Qt::QueuedConnection);
}

void ModelRunner::deliver(int id, std::function<void()> on_gui_thread) {
    QMetaObject::invokeMethod(
        this,
        [this, id, f = std::move(on_gui_thread)] {
            if (id == current_) f();
        },
        Qt::QueuedConnection);
}

void ModelRunner::set_busy(bool busy) {
    if (busy == busy_) return;
    busy_ = busy;
    emit busyChanged(busy);
}

void ModelRunner::cancel() {
    cancel_->store(true);
}

int ModelRunner::load(const QString& folder, Precision precision) {
    const int id = start_request();
    latest_load_.store(id);
    post([this, id, folder, precision] {
        try {
            const std::filesystem::path path = folder.toStdString();
            std::shared_ptr<const Model> model = Model::load(path, precision);
            std::shared_ptr<const Tokenizer> tokenizer;
            if (Tokenizer::present_in(path)) tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load(path));
            SpecialTokens special = read_special_tokens(path, tokenizer.get());

            ModelSummary s;
            const ModelConfig& c = model->config();
            s.folder = folder;
            s.architecture = QString::fromStdString(c.architecture);
            s.layers = c.n_layers, s.heads = c.n_heads, s.kv_heads = c.n_kv_heads;
            s.d_model = c.d_model, s.d_head = c.d_head, s.d_vocab = c.d_vocab, s.n_ctx = c.n_ctx;
            s.parameters = model->parameter_count();
            s.precision = model->precision();
            s.storage_dtypes = QString::fromStdString(Checkpoint::open(path).storage_dtypes());
            s.hooks = model->hook_points();
            s.fingerprint = model->fingerprint();
            s.tokenizer = tokenizer;
            s.special = special;
            s.warnings = model->load_warnings();

            if (latest_load_.load() != id) return; // another load follows: it decides the model
            model_ = std::move(model);
            folder_ = folder.toStdString();
            tokenizer_ = std::move(tokenizer);
            special_ = std::move(special);
            // The summary always follows the worker's model, even when a generation was
            // requested after this load; only the signal belongs to the current request.
            QMetaObject::invokeMethod(
                this,
                [this, id, s = std::move(s)] {
                    summary_ = s;
                    if (id != current_) return;
                    set_busy(false);
                    emit modelLoaded(id, s);
                },
                Qt::QueuedConnection);
        } catch (const std::exception& e) {
            deliver(id, [this, id, folder, message = QString::fromStdString(e.what())] {
                set_busy(false);
                emit failed(id, tr("Loading %1").arg(folder), message);
            });
        }
    });
    return id;
}

int ModelRunner::generate(const GenerationRequest& request) {
    const int id = start_request();
    post([this, id, request, cancelled = cancel_] { generate_on_worker(id, request, /*run_only=*/false, cancelled); });
    return id;
}

int ModelRunner::run(const GenerationRequest& request) {
    const int id = start_request();
    post([this, id, request, cancelled = cancel_] { generate_on_worker(id, request, /*run_only=*/true, cancelled); });
    return id;
}

template <typename Result>
int ModelRunner::analyse(const QString& what, std::function<Result(const Model&)> work,
                         std::function<void(int, const Result&)> done) {
    const int id = start_request();
    post([this, id, what, work = std::move(work), done = std::move(done)] {
        try {
            if (!model_) throw InputError("no model is loaded: open a checkpoint folder first");
            auto result = std::make_shared<const Result>(work(*model_));
            deliver(id, [this, id, result, done] {
                set_busy(false);
                done(id, *result);
            });
        } catch (const std::exception& e) {
            deliver(id, [this, id, what, message = QString::fromStdString(e.what())] {
                set_busy(false);
                emit failed(id, what, message);
            });
        }
    });
    return id;
}

int ModelRunner::compute_head_scores() {
    return analyse<HeadScores>(
        tr("Scoring the heads"), [](const Model& model) { return head_scores(model); },
        [this](int id, const HeadScores& scores) { emit headScoresReady(id, scores); });
}

int ModelRunner::compute_lens(const std::vector<int64_t>& tokens, int64_t top_k, std::optional<int64_t> target,
                              const AppliedInterventions& applied) {
    return analyse<std::vector<LensLayer>>(
        tr("The logit lens"),
        [tokens, top_k, target, applied](const Model& model) {
            Interventions interventions = load_for_forward(model, applied, static_cast<int64_t>(tokens.size()));
            return lens_run(model, tokens, top_k,
                            target ? std::vector<int64_t>(tokens.size(), *target) : next_tokens(tokens),
                            &interventions);
        },
        [this, tokens](int id, const std::vector<LensLayer>& layers) { emit lensReady(id, tokens, layers); });
}

int ModelRunner::compute_attribution(const std::vector<int64_t>& tokens, int64_t position, int64_t target,
                                     std::optional<int64_t> contrast, const AppliedInterventions& applied) {
    return analyse<RunAttribution>(
        tr("Attributing the logit"),
        [tokens, position, target, contrast, applied](const Model& model) {
            Interventions interventions = load_for_forward(model, applied, static_cast<int64_t>(tokens.size()));
            return attribute_run(model, tokens, position, target, contrast, &interventions);
        },
        [this](int id, const RunAttribution& a) { emit attributionReady(id, a); });
}

int ModelRunner::compute_patching(const PatchingJob& job) {
    const int id = start_request();
    post([this, id, job, cancelled = cancel_] {
        try {
            if (!model_) throw InputError("no model is loaded: open a checkpoint folder first");
            PatchingRequest request;
            request.clean = job.clean;
            request.corrupted = job.corrupted;
            request.answer = job.answer;
            request.wrong = job.wrong;
            request.sites = job.sites;
            // Both runs of the sweep are forwards over the prompt alone.
            request.interventions =
                load_for_forward(*model_, job.interventions, static_cast<int64_t>(job.corrupted.size()));
            PatchingCallbacks callbacks;
            callbacks.cancelled = [cancelled] { return cancelled->load(); };
            callbacks.progress = [this, id](int64_t done, int64_t total) {
                deliver(id, [this, id, done, total] { emit patchingProgress(id, done, total); });
            };
            const std::optional<PatchingResult> result = patching_sweep(*model_, request, callbacks);
            if (!result) {
                return deliver(id, [this, id] {
                    set_busy(false);
                    emit patchingCancelled(id);
                });
            }
            PatchingOutcome out;
            out.answer = result->answer, out.wrong = result->wrong;
            out.clean_logit_diff = result->clean_logit_diff;
            out.corrupted_logit_diff = result->corrupted_logit_diff;
            out.interventions = request.interventions.texts();
            for (const PatchingGrid& grid : result->grids) {
                const std::optional<at::Tensor> normalized = result->normalized(grid);
                const at::Tensor values = (normalized ? *normalized : grid.logit_diff).to(at::kDouble).contiguous();
                PatchingGridData g;
                g.site = grid.site;
                g.normalized = normalized.has_value();
                g.values.rows = values.size(0);
                g.values.cols = values.size(1);
                g.values.values.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
                out.grids.push_back(std::move(g));
            }
            deliver(id, [this, id, out = std::move(out)] {
                set_busy(false);
                emit patchingReady(id, out);
            });
        } catch (const std::exception& e) {
            deliver(id, [this, id, message = QString::fromStdString(e.what())] {
                set_busy(false);
                emit failed(id, tr("Patching"), message);
            });
        }
    });
    return id;
}

int ModelRunner::collect(const CollectJob& job) {
    const int id = start_request();
    post([this, id, job, cancelled = cancel_] {
        try {
            if (!model_) throw InputError("no model is loaded: open a checkpoint folder first");
            const auto progress = [this, id](const CollectStatus& status) {
                deliver(id, [this, id, status] { emit collectProgress(id, status); });
            };
            const std::optional<CollectOutcome> outcome = run_collect(
                *model_, folder_, tokenizer_.get(), special_, job, progress, [cancelled] { return cancelled->load(); });
            deliver(id, [this, id, outcome] {
                set_busy(false);
                if (outcome) {
                    emit collectFinished(id, *outcome);
                } else {
                    emit collectCancelled(id);
                }
            });
        } catch (const std::exception& e) {
            deliver(id, [this, id, message = QString::fromStdString(e.what())] {
                set_busy(false);
                emit failed(id, tr("Collecting activations"), message);
            });
        }
    });
    return id;
}

void ModelRunner::generate_on_worker(int id, const GenerationRequest& request, bool run_only,
                                     const std::shared_ptr<std::atomic<bool>>& cancelled) {
    try {
        if (!model_) throw InputError("no model is loaded: open a checkpoint folder first");
        const std::vector<int64_t> prompt = prompt_tokens(request, tokenizer_.get(), special_);
        GenerateOptions options = generate_options(request, special_);
        if (run_only) options.max_new_tokens = 0;
        InterventionContext context;
        context.base = request.intervention_base.toStdString();
        context.first_pass_length = static_cast<int64_t>(prompt.size());
        context.max_positions =
            planned_positions(context.first_pass_length, options.max_new_tokens, model_->config().n_ctx);
        context.pinned = request.pinned.get();
        if (!request.interventions.empty())
            options.interventions = load_interventions(request.interventions, *model_, context);
        const bool compare = !run_only && request.compare_without_steering && has_steering(request.interventions);
        std::optional<GenerateOptions> unsteered_options;
        if (compare) { // every SPEC is checked before any work
            unsteered_options = options;
            unsteered_options->interventions =
                load_interventions(without_steering(request.interventions), *model_, context);
            unsteered_options->return_cache = false; // its text is all that is shown
        }
        deliver(id, [this, id, prompt] { emit started(id, prompt); });

        GenerateCallbacks callbacks;
        callbacks.cancelled = [cancelled] { return cancelled->load(); };
        std::optional<GenerateResult> unsteered;
        if (compare) {
            GenerateCallbacks side = callbacks;
            side.on_token = [this, id](const TokenEvent& event) {
                if (event.final_flush) return; // the result's text has it
                deliver(id, [this, id, event] {
                    emit unsteeredTokenGenerated(id, event.id, QString::fromStdString(event.piece));
                });
            };
            unsteered = hookscope::generate(*model_, prompt, *unsteered_options, side, tokenizer_.get());
            // One seed for both, drawn here when the request had none, so that the two
            // texts differ by the steering alone.
            if (unsteered->seed) options.seed = unsteered->seed;
        }
        callbacks.on_token = [this, id](const TokenEvent& event) {
            if (event.final_flush) return;
            deliver(id, [this, id, event] { emit tokenGenerated(id, event.id, event.step, event.elapsed_s); });
        };
        callbacks.on_recompute = [this, id] { deliver(id, [this, id] { emit recomputeStarted(id); }); };
        GenerateResult g = hookscope::generate(*model_, prompt, options, callbacks, tokenizer_.get());

        RunResult r;
        r.tokens = std::move(g.tokens);
        r.prompt_length = g.prompt_length;
        r.stop_reason = run_only ? QStringLiteral("run") : QString::fromLatin1(stop_reason_name(g.stop_reason));
        r.seed = g.seed;
        r.tokens_per_second = g.tokens_per_second;
        r.generated = std::move(g.generated);
        r.prompt_s = g.prompt_s, r.decode_s = g.decode_s, r.recompute_s = g.recompute_s;
        r.settings_json = run_only ? std::string(R"({"mode": "run"})") : generation_settings_json(options, g.seed);
        r.cache = std::make_shared<const ActivationCache>(std::move(*g.cache));
        r.fingerprint = model_->fingerprint();
        r.precision = model_->precision();
        r.interventions = options.interventions.texts();
        r.interventions_json = interventions_json(options.interventions);
        r.intervention_base = request.intervention_base;
        if (!request.interventions.empty()) r.intervention_pinned = request.pinned;
        if (unsteered) {
            r.unsteered_tokens = std::move(unsteered->tokens);
            r.unsteered_text = QString::fromStdString(unsteered->text);
        }
        deliver(id, [this, id, r = std::move(r)] {
            set_busy(false);
            emit finished(id, r);
        });
    } catch (const std::exception& e) {
        deliver(id, [this, id, run_only, message = QString::fromStdString(e.what())] {
            set_busy(false);
            emit failed(id, run_only ? tr("Running the prompt") : tr("Generating"), message);
        });
    }
}

} // namespace hookscope::ui
