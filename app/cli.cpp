#include "app/cli.h"
#include "app/cli_common.h"

#include "app/options.h"
#include "app/version.h"
#include "bridge/analysis/head_scores.h"
#include "bridge/core/cache_budget.h"
#include "bridge/core/errors.h"
#include "bridge/core/names_filter.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/system_memory.h"
#include "bridge/core/token_ids.h"
#include "bridge/formats/hub_cache.h"
#include "bridge/io/export.h"
#include "bridge/model/generate.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/threads.h"
#include "bridge/text/prompt.h"
#include "bridge/text/tokenizer.h"
#include "bridge/text/unicode.h"

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace hookscope::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kUsage =
    R"(usage: hookscope [--model M] [--prompt TEXT] [--cache-limit SIZE]
                                                       open the GUI
       hookscope --screenshot FILE [--model M] [--prompt TEXT] [--max-new-tokens N] [--head L.H]
                   [--view attention|lens]             generate in the GUI, show head L.H (or the
                                                       logit lens), save as PNG
       hookscope hooks    [--model M] [--names-filter F] [--json]
       hookscope tokenize [--model M] --text TEXT [--no-prepend-bos] [--json]
       hookscope heads    [--model M] [--json]         previous-token, duplicate-token and
                                                       induction scores of every head
       hookscope run      [--model M] (--prompt TEXT | --tokens 1,2,3) [--no-prepend-bos]
                          [--names-filter F] [--cache-limit SIZE] --export FILE
       hookscope generate [--model M] (--prompt TEXT | --tokens 1,2,3) [--max-new-tokens N]
                          [--greedy | --temperature T --top-k K --top-p P] [--seed S]
                          [--repetition-penalty R] [--freq-penalty F] [--stop STRING]...
                          [--no-prepend-bos] [--names-filter F] [--cache-limit SIZE]
                          [--export FILE] [--json]
       hookscope lens     [--model M] (--prompt TEXT | --tokens 1,2,3) [--top-k K] [--json]
       hookscope attribute [--model M] (--prompt TEXT | --tokens 1,2,3) --position P --target ID
                          [--contrast ID] [--json]
       hookscope inspect  FILE [--json]
       hookscope models   [--json]

Sub-commands:
  hooks     list the hook points of a model (name and shape; "pos" is the sequence axis)
  heads     score every attention head as previous-token, duplicate-token and induction
            head, on repeated random tokens (see the Heads view)
  tokenize  the token ids a text becomes (BOS first unless --no-prepend-bos), with a
            legible form of each token (␣ is a space)
  run       one forward pass over a prompt, recording the hook points the names filter
            selects, exported to FILE (.safetensors, or .npz for NumPy)
  generate  generate after a prompt (KV-cached), streaming the new text to stdout;
            with --export, one forward over prompt + output records the hook points
            the names filter selects (what run would record over the output)
  lens      the logit lens: each block's residual stream (hook_resid_pre, then the last
            hook_resid_post) through the final norm and unembedding; the top K tokens
            (default 5) and their probabilities at every position
  attribute direct logit attribution: position P's logit for token ID (minus --contrast's)
            split into embeddings, each head, each MLP, the output biases and the final
            norm's constant, through the final norm frozen at its scale; P < 0 counts
            from the end
  inspect   list the metadata and tensors of an exported cache
  models    list the models in the local Hugging Face cache (usable as --model ORG/NAME)

Options:
  --model M          a Hugging Face checkpoint folder (config.json + *.safetensors +
                     tokenizer files; for `tokenize` the tokenizer files are enough), or a
                     hub id (ORG/NAME) in the local Hugging Face cache; never downloaded
  --names-filter F   comma-separated exact names, whole-name globs (* and ?) or /regex/;
                     empty selects every hook point
  --prompt TEXT      text, encoded by the model's tokenizer, BOS prepended
  --text TEXT        the same, for `tokenize`
  --no-prepend-bos   do not prepend the BOS token to text
  --tokens IDS       token ids, separated by commas or spaces (fed exactly as given;
                     BOS settings do not apply)
  --export FILE      where to write the activations (atomic: a failed write changes nothing)
  --cache-limit SIZE the most the captured activations may take (500M, 8G, ... or none;
                     default: half of the memory available). A bigger capture is refused
                     before it starts, with smaller names filters that would fit
  --max-new-tokens N
                     tokens to generate at most (default 10)
  --greedy           take the most likely token (default: sample at temperature 1)
  --temperature T, --top-k K, --top-p P
                     sampling; top-k wins over top-p when both are given
  --seed S           makes sampling reproducible (default: a random seed, reported)
  --repetition-penalty R, --freq-penalty F
                     penalties on tokens already in the sequence (defaults 1 and 0)
  --stop STRING      stop once the new text contains STRING (may repeat)
  --json             one JSON object on stdout
  --dtype D          compute precision: float32 (default) or bfloat16 (weights and matrix
                     products in bfloat16, the rest in float32: faster, less exact)
  --threads N        OpenBLAS threads for matrix products (default: all cores; LibTorch uses 1)
  --help             this text
  --version          the version and git commit, and the LibTorch, Qt and BLAS in use

Exit codes: 0 success, 1 an error in the input or the run, 2 a usage error.
)";

const std::set<std::string> kCommonValues{"--dtype", "--threads"};

} // namespace

OptionSpec spec(std::set<std::string> flags, std::set<std::string> values, int positionals) {
    values.insert(kCommonValues.begin(), kCommonValues.end());
    return {std::move(flags), std::move(values), {}, positionals};
}

Precision apply_common(const Options& options) {
    const std::string dtype = options.value("--dtype").value_or("float32");
    const auto precision = parse_precision(dtype);
    if (!precision) throw UsageError("--dtype must be float32 or bfloat16, got `" + dtype + "`");
    apply_thread_split(default_thread_split(options.positive_int("--threads").value_or(0)));
    return *precision;
}

std::optional<fs::path> bundled_model() {
    std::vector<fs::path> roots;
    if (const char* dir = std::getenv("HOOKSCOPE_DATA_DIR"); dir && *dir) roots.emplace_back(dir);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) roots.push_back(exe.parent_path().parent_path() / "share" / "hookscope");
    roots.emplace_back(fs::path(HOOKSCOPE_SOURCE_DIR) / "resources");
    for (const fs::path& root : roots) {
        const fs::path model = root / "models" / "kjv-gpt2";
        if (fs::exists(model / "config.json", ec)) return model;
    }
    return std::nullopt;
}

fs::path model_folder(const Options& options) {
    if (const auto model = options.value("--model")) return resolve_model_folder(*model);
    if (auto bundled = bundled_model()) return *bundled;
    throw Error("no model: the bundled default model (models/kjv-gpt2) was not found, so pass --model FOLDER "
                "(a Hugging Face checkpoint folder) or a hub id from the local cache");
}

std::unique_ptr<Model> load_model(const fs::path& folder, Precision precision) {
    auto model = Model::load(folder, precision);
    for (const std::string& warning : model->load_warnings())
        std::cerr << "hookscope: warning: " << warning << "\n";
    return model;
}

TextCodec load_text_codec(const fs::path& folder) {
    if (!Tokenizer::present_in(folder)) {
        throw Error(folder.string() +
                    " has no tokenizer (tokenizer.json, or vocab.json and merges.txt), so it cannot read "
                    "text; pass --tokens with token ids instead");
    }
    Tokenizer tokenizer = Tokenizer::load(folder);
    SpecialTokens special = read_special_tokens(folder, &tokenizer);
    return {std::move(tokenizer), std::move(special)};
}

namespace {

// What an export records about the run: the model, its tokens and the settings.
ExportInfo export_info(const fs::path& folder, const Model& model, const std::optional<TextCodec>& codec,
                       const std::vector<int64_t>& tokens, int64_t prompt_length, std::string settings) {
    return export_info_for(folder.string(), model.fingerprint(), codec ? &codec->tokenizer : nullptr, tokens,
                           prompt_length, std::move(settings), model.precision());
}

} // namespace

PromptInput prompt_input(const Options& options, const fs::path& folder) {
    const auto tokens = options.value("--tokens");
    const auto prompt = options.value("--prompt");
    if (tokens && prompt) throw UsageError("give either --prompt or --tokens, not both");
    if (!tokens && !prompt) throw UsageError("needs --prompt TEXT or --tokens IDS");
    PromptInput input;
    if (Tokenizer::present_in(folder)) input.codec = load_text_codec(folder);
    if (tokens) {
        try {
            input.tokens = parse_token_ids(*tokens);
        } catch (const InputError& e) {
            throw UsageError(e.what());
        }
        if (input.tokens.empty()) throw UsageError("--tokens has no token ids");
        return input;
    }
    if (!input.codec) input.codec = load_text_codec(folder); // says why text cannot be read
    input.tokens =
        encode_prompt(input.codec->tokenizer, input.codec->special, *prompt, !options.flag("--no-prepend-bos"));
    return input;
}

namespace {

json shape_json(const HookInfo& info) {
    json shape = json::array();
    for (const Dim& dim : info.shape) {
        switch (dim.kind) {
        case Dim::Kind::Positions: shape.push_back("pos"); break;
        case Dim::Kind::Heads: shape.push_back("H=" + std::to_string(dim.size)); break;
        case Dim::Kind::KvHeads: shape.push_back("Hkv=" + std::to_string(dim.size)); break;
        case Dim::Kind::Fixed: shape.push_back(dim.size); break;
        }
    }
    return shape;
}

// A shape as shape_json writes it (numbers and labels), as text.
std::string shape_text(const json& shape) {
    std::vector<std::string> labels;
    for (const json& dim : shape)
        labels.push_back(dim.is_string() ? dim.get<std::string>() : dim.dump());
    return hookscope::shape_text(labels);
}

int hooks_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {"--model", "--names-filter"}), "hooks");
    apply_common(options);
    const ModelConfig config = load_model_config(model_folder(options));
    const NamesFilter filter(options.value("--names-filter").value_or(""));
    json hooks = json::array();
    for (const HookInfo& info : hook_points_for(config)) {
        if (filter.matches(info.name)) hooks.push_back({{"name", info.name}, {"shape", shape_json(info)}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"hooks", hooks}}.dump() << "\n";
        return kOk;
    }
    std::size_t width = 0;
    for (const auto& h : hooks)
        width = std::max(width, h["name"].get<std::string>().size());
    for (const auto& h : hooks) {
        const std::string name = h["name"].get<std::string>();
        std::cout << name << std::string(width - name.size() + 2, ' ') << shape_text(h["shape"]) << "\n";
    }
    return kOk;
}

int heads_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {"--model"}), "heads");
    const Precision precision = apply_common(options);
    const auto model = load_model(model_folder(options), precision);
    const HeadScores s = head_scores(*model);
    if (options.flag("--json")) {
        std::cout << json{{"sequence_length", s.sequence_length},
                          {"sequences", s.sequences},
                          {"previous_token", s.previous_token},
                          {"duplicate_token", s.duplicate_token},
                          {"induction", s.induction}}
                         .dump()
                  << "\n";
        return kOk;
    }
    std::printf("head scores over %lld sequences of %lld random tokens repeated\n", static_cast<long long>(s.sequences),
                static_cast<long long>(s.sequence_length));
    std::printf("layer  head  previous  duplicate  induction\n");
    for (std::size_t l = 0; l < s.induction.size(); ++l) {
        for (std::size_t h = 0; h < s.induction[l].size(); ++h) {
            std::printf("%5zu  %4zu  %8.3f  %9.3f  %9.3f\n", l, h, s.previous_token[l][h], s.duplicate_token[l][h],
                        s.induction[l][h]);
        }
    }
    return kOk;
}

// Refuses a recompute over `positions` whose cache would pass the limit, before any
// work starts, naming filters that would fit.
void require_cache_fits(const Model& model, const NamesFilter& filter, int64_t positions, const Options& options) {
    const auto too_large = check_cache_size(model.hook_points(), filter, positions, cache_limit(options));
    if (!too_large) return;
    std::string text = too_large->describe() + ". Capture fewer hook points with --names-filter";
    for (std::size_t k = 0; k < too_large->suggestions.size(); ++k) {
        const FilterSuggestion& s = too_large->suggestions[k];
        text += (k == 0                                   ? ", for example '"
                 : k + 1 == too_large->suggestions.size() ? " or '"
                                                          : ", '") +
                s.filter + "' (" + byte_size_text(static_cast<uint64_t>(s.bytes)) + ")";
    }
    throw InputError(text + "; or raise the limit with --cache-limit (a size such as 8G, or none)");
}

int run_command(const std::vector<std::string>& args) {
    const Options options(
        args,
        spec({"--no-prepend-bos"}, {"--model", "--tokens", "--prompt", "--names-filter", "--export", "--cache-limit"}),
        "run");
    const Precision precision = apply_common(options);
    const auto export_path = options.value("--export");
    if (!export_path) throw UsageError("`run` needs --export FILE");
    const NamesFilter filter(options.value("--names-filter").value_or(""));

    const fs::path folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const std::vector<int64_t>& tokens = input.tokens;
    const auto model = load_model(folder, precision);
    require_cache_fits(*model, filter, static_cast<int64_t>(tokens.size()), options);
    const ActivationCache cache = model->run_with_cache(tokens, filter);

    json settings{{"mode", "run"}, {"input", options.value("--prompt") ? "prompt" : "tokens"}};
    if (options.value("--prompt")) settings["prepend_bos"] = !options.flag("--no-prepend-bos");
    export_cache(
        cache, *export_path,
        export_info(folder, *model, input.codec, tokens, static_cast<int64_t>(tokens.size()), settings.dump()));
    std::cout << "captured " << cache.size() << " hook points over " << tokens.size() << " positions ("
              << cache.total_bytes() << " bytes, computed in " << precision_name(precision) << ") into " << *export_path
              << "\n";
    return kOk;
}

int tokenize_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json", "--no-prepend-bos"}, {"--model", "--text"}), "tokenize");
    apply_common(options);
    const auto text = options.value("--text");
    if (!text) throw UsageError("`tokenize` needs --text TEXT");
    const TextCodec codec = load_text_codec(model_folder(options));
    const std::vector<int64_t> ids =
        encode_prompt(codec.tokenizer, codec.special, *text, !options.flag("--no-prepend-bos"));
    std::vector<std::string> shown;
    for (const int64_t id : ids)
        shown.push_back(codec.tokenizer.display(id));
    if (options.flag("--json")) {
        std::cout << json{{"ids", ids}, {"tokens", shown}}.dump() << "\n";
        return kOk;
    }
    std::cout << "pos\tid\ttoken\n";
    for (std::size_t k = 0; k < ids.size(); ++k)
        std::cout << k << "\t" << ids[k] << "\t" << shown[k] << "\n";
    return kOk;
}

SamplingSettings sampling_settings(const Options& options) {
    SamplingSettings s;
    const bool sampling_option = options.value("--temperature") || options.value("--top-k") || options.value("--top-p");
    if (options.flag("--greedy") && sampling_option) {
        throw UsageError("--greedy cannot be combined with --temperature, --top-k or --top-p");
    }
    s.do_sample = !options.flag("--greedy");
    s.temperature = options.number("--temperature").value_or(1.0);
    if (const auto k = options.positive_int("--top-k")) s.top_k = *k;
    s.top_p = options.number("--top-p");
    s.repetition_penalty = options.number("--repetition-penalty").value_or(1.0);
    s.freq_penalty = options.number("--freq-penalty").value_or(0.0);
    return s;
}

int generate_command(const std::vector<std::string>& args) {
    const Options options(args,
                          {{"--json", "--no-prepend-bos", "--greedy"},
                           {"--model", "--tokens", "--prompt", "--names-filter", "--export", "--max-new-tokens",
                            "--temperature", "--top-k", "--top-p", "--seed", "--repetition-penalty", "--freq-penalty",
                            "--dtype", "--threads", "--cache-limit"},
                           {"--stop"},
                           0},
                          "generate");
    const Precision precision = apply_common(options);
    GenerateOptions o;
    o.sampling = sampling_settings(options);
    o.max_new_tokens = static_cast<int64_t>(options.unsigned_int("--max-new-tokens").value_or(10));
    o.seed = options.unsigned_int("--seed");
    o.stop_strings = options.values("--stop");
    const auto export_path = options.value("--export");
    o.return_cache = export_path.has_value();
    o.names_filter = NamesFilter(options.value("--names-filter").value_or(""));

    const fs::path folder = model_folder(options);
    const PromptInput input = prompt_input(options, folder);
    const Tokenizer* tokenizer = input.codec ? &input.codec->tokenizer : nullptr;
    o.eos_ids = input.codec ? input.codec->special.eos : read_special_tokens(folder, nullptr).eos;
    const auto model = load_model(folder, precision);
    if (o.return_cache) {
        require_cache_fits(
            *model, o.names_filter,
            planned_positions(static_cast<int64_t>(input.tokens.size()), o.max_new_tokens, model->config().n_ctx),
            options);
    }

    const bool as_json = options.flag("--json");
    GenerateCallbacks callbacks;
    if (!as_json) {
        callbacks.on_token = [&](const TokenEvent& event) {
            if (tokenizer) {
                std::cout << event.piece;
            } else {
                std::cout << (event.step ? " " : "") << event.id;
            }
            std::cout.flush();
        };
    }
    const GenerateResult result = generate(*model, input.tokens, o, callbacks, tokenizer);

    std::vector<std::string> cache_keys;
    if (result.cache) {
        export_cache(*result.cache, *export_path,
                     export_info(folder, *model, input.codec, result.tokens, result.prompt_length,
                                 generation_settings_json(o, result.seed)));
        cache_keys = result.cache->names();
    }
    const auto optional_number = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
    if (as_json) {
        json logprobs = json::array();
        for (const NewToken& t : result.generated) {
            json top = json::array();
            for (const auto& [id, logprob] : t.top)
                top.push_back({{"id", id}, {"logprob", logprob}});
            logprobs.push_back({{"id", t.id}, {"logprob", t.logprob}, {"top", top}});
        }
        json out{{"tokens", result.tokens},
                 {"prompt_tokens", result.prompt_length},
                 {"new_tokens", result.generated.size()},
                 {"text", result.text},
                 {"stop_reason", stop_reason_name(result.stop_reason)},
                 {"seed", result.seed ? json(*result.seed) : json(nullptr)},
                 {"tokens_per_second", optional_number(result.tokens_per_second)},
                 {"timings",
                  {{"prompt_s", result.prompt_s}, {"decode_s", result.decode_s}, {"recompute_s", result.recompute_s}}},
                 {"logprobs", logprobs},
                 {"dtype", std::string(precision_name(precision))}};
        if (result.cache) out["cache_keys"] = cache_keys;
        std::cout << out.dump() << "\n";
        return kOk;
    }
    std::cout << std::endl; // before the summary on stderr
    std::cerr << "[" << result.generated.size() << " new tokens, stop: " << stop_reason_name(result.stop_reason);
    if (result.tokens_per_second) std::cerr << ", " << static_cast<int>(*result.tokens_per_second + 0.5) << " tokens/s";
    if (result.seed) std::cerr << ", seed " << *result.seed;
    if (precision != Precision::Float32) std::cerr << ", computed in " << precision_name(precision);
    if (result.cache) std::cerr << ", " << result.cache->size() << " hook points exported to " << *export_path;
    std::cerr << "]\n";
    return kOk;
}

int models_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {}), "models");
    const std::vector<CachedModel> models = list_cached_models();
    if (options.flag("--json")) {
        json list = json::array();
        for (const CachedModel& m : models) {
            list.push_back({{"id", m.id},
                            {"folder", m.folder.string()},
                            {"architecture", m.architecture.empty() ? json(nullptr) : json(m.architecture)},
                            {"bytes", m.bytes}});
        }
        std::cout << json{{"models", list}}.dump() << "\n";
        return kOk;
    }
    if (models.empty()) {
        std::cout << "no models in the local Hugging Face cache\n";
        return kOk;
    }
    for (const CachedModel& m : models) {
        std::cout << m.id << "  " << (m.architecture.empty() ? "(not runnable)" : m.architecture) << "  "
                  << (m.bytes + 500'000) / 1'000'000 << " MB  " << m.folder.string() << "\n";
    }
    return kOk;
}

int inspect_command(const std::vector<std::string>& args) {
    const Options options(args, spec({"--json"}, {}, 1), "inspect");
    apply_common(options);
    if (options.positionals().empty()) throw UsageError("`inspect` needs a FILE");
    if (fs::path(options.positionals().front()).extension() == ".npz") {
        throw Error("`inspect` reads safetensors exports; open .npz files with numpy.load(FILE, "
                    "allow_pickle=False) or export to .safetensors");
    }
    const auto file = SafetensorsFile::open(options.positionals().front());
    json tensors = json::array();
    for (const TensorInfo& t : file->tensors()) {
        tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}});
    }
    if (options.flag("--json")) {
        std::cout << json{{"metadata", file->metadata()}, {"tensors", tensors}}.dump() << "\n";
        return kOk;
    }
    for (const auto& [key, value] : file->metadata())
        std::cout << key << ": " << value << "\n";
    if (!file->metadata().empty()) std::cout << "\n";
    for (const auto& t : tensors) {
        std::cout << t["name"].get<std::string>() << "  " << t["dtype"].get<std::string>() << "  "
                  << shape_text(t["shape"]) << "\n";
    }
    return kOk;
}

int dispatch(const std::vector<std::string>& args) {
    if (args.empty() || args.front().rfind("-", 0) == 0) {
        for (const std::string& a : args) {
            if (a == "--help" || a == "-h") {
                std::cout << kUsage;
                return kOk;
            }
            if (a == "--version") {
                std::cout << version_report();
                return kOk;
            }
        }
        throw UsageError("the GUI opens through main(); this is the command line");
    }
    const std::string& command = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const std::string& a : rest) {
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return kOk;
        }
    }
    if (command == "hooks") return hooks_command(rest);
    if (command == "heads") return heads_command(rest);
    if (command == "run") return run_command(rest);
    if (command == "inspect") return inspect_command(rest);
    if (command == "tokenize") return tokenize_command(rest);
    if (command == "generate") return generate_command(rest);
    if (command == "models") return models_command(rest);
    if (command == "lens") return lens_command(rest);
    if (command == "attribute") return attribute_command(rest);
    throw UsageError("unknown command `" + command + "`");
}

} // namespace

bool opens_gui(const std::vector<std::string>& args) {
    if (!args.empty() && args.front().rfind("-", 0) != 0) return false; // a sub-command
    for (const std::string& a : args) {
        if (a == "--help" || a == "-h" || a == "--version") return false;
    }
    return true;
}

int run(const std::vector<std::string>& args) {
    try {
        return dispatch(args);
    } catch (const UsageError& e) {
        std::cerr << "hookscope: " << e.what() << " (see hookscope --help)\n";
        return kUsageError;
    } catch (const c10::Error& e) {
        std::cerr << "hookscope: " << e.what_without_backtrace() << "\n";
        return kRunError;
    } catch (const std::exception& e) {
        std::cerr << "hookscope: " << e.what() << "\n";
        return kRunError;
    } catch (...) {
        std::cerr << "hookscope: unexpected error\n";
        return kRunError;
    }
}

} // namespace hookscope::cli
