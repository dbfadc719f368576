#include "app/cli/commands.h"

#include "app/cli/handlers.h"
#include "app/cli/version.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace hookscope::cli {

namespace fs = std::filesystem;

namespace {

// The usage lines of the GUI, before those of the sub-commands.
constexpr std::string_view kGuiUsage =
    R"(usage: hookscope [--model M] [--prompt TEXT] [--cache-limit SIZE]
                                                       open the GUI
       hookscope --screenshot FILE [--model M] [--prompt TEXT] [--max-new-tokens N] [--head L.H]
                   [--view attention|lens|patching|steering] [--size WxH]
                                                       generate in the GUI, show head L.H (or the
                                                       logit lens, or a patching sweep from the
                                                       run into it with one token changed, or the
                                                       text steered by a vector from the run
                                                       beside the unsteered), save the window
                                                       (default 1600x1000) as PNG
)";

// The options of every command and of the GUI, and the exit codes.
constexpr std::string_view kOptionsHelp =
    R"(Options:
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
  --intervene SPEC   change one activation in every forward of the run (may repeat; applied
                     in order): HOOK[@HEAD][:P|P1-P2]=ACTION with ACTION zero, mean,
                     mean:P1-P2, add:FILE[#KEY][*SCALE] (a safetensors vector) or
                     patch:FILE (a cache file of another run); positions count from 0, BOS
                     included. E.g. blocks.0.attn.hook_z@1=zero
  --cache-limit SIZE the most the captured activations may take (500M, 8G, ... or none;
                     default: half of the memory available). A bigger capture is refused
                     before it starts, with smaller names filters that would fit
  --prompts FILE     `collect`'s prompts: .jsonl ({"text": ...} or {"tokens": [...]} per line)
                     or plain text, one prompt per line; blank lines are skipped
  --out DIR          the dataset folder `collect` writes (and resumes)
  --max-positions N  cut longer prompts to N positions (default: the model's context)
  --shard-size SIZE  the size a dataset shard is closed at (default 1G); shards hold whole
                     prompts
  --batch-prompts N  prompts grouped per batch (default 8)
  --pipeline         `run` and `generate`: the model's blocks split into W stages over W
                     processes (the launch flags below), each loading only its own; rank 0
                     samples, prints and writes the export
  --world-size W, --rank R, --master HOST:PORT
                     `collect` (or a --pipeline) as rank R of W processes, rank 0 hosting the store at
                     HOST:PORT; the flags win over torchrun's WORLD_SIZE, RANK,
                     MASTER_ADDR and MASTER_PORT (LOCAL_WORLD_SIZE divides the cores;
                     TORCHELASTIC_USE_AGENT_STORE=True uses torchrun's store)
  --dist-timeout SECONDS
                     how long a run over several processes waits for a rank to join or to
                     show a sign of life before naming it and stopping (default 300)
  --verify           `inspect DIR`: check every shard against the manifest's SHA-256
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

// Where the names and the text start: "       hookscope NAME     ARGS" in the usage
// lines (a longer name pushes its line's arguments right), "  NAME      TEXT" in the
// sub-command list.
constexpr std::size_t kUsageIndent = 7, kUsageNameWidth = 8;
constexpr std::size_t kListIndent = 2, kListNameWidth = 9;

// `text`'s lines, the first after `first`, each further one after `indent` spaces.
std::string indented(std::string_view first, std::string_view text, std::size_t indent) {
    std::string out(first);
    for (std::size_t start = 0; start <= text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        if (start > 0) out += std::string(indent, ' ');
        out += text.substr(start, end - start);
        out += '\n';
        start = end + 1;
    }
    return out;
}

// `name` followed by spaces up to `width`, then one more space.
std::string padded(std::string_view name, std::size_t width) {
    return std::string(name) + std::string(width > name.size() ? width - name.size() : 0, ' ') + " ";
}

bool asks_for_help(const std::string& arg) {
    return arg == "--help" || arg == "-h";
}

int dispatch(const std::vector<std::string>& args) {
    if (args.empty() || args.front().rfind("-", 0) == 0) {
        for (const std::string& a : args) {
            if (asks_for_help(a)) {
                std::cout << usage_text();
                return kOk;
            }
            if (a == "--version") {
                std::cout << version_report();
                return kOk;
            }
        }
        throw UsageError("the GUI opens through main(); this is the command line");
    }
    const std::string& name = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (std::any_of(rest.begin(), rest.end(), asks_for_help)) {
        std::cout << usage_text();
        return kOk;
    }
    const auto table = commands();
    const auto command = std::find_if(table.begin(), table.end(), [&](const Command& c) { return c.name == name; });
    if (command == table.end()) throw UsageError("unknown command `" + name + "`");
    return command->run(Options(rest, command->options(), name));
}

} // namespace

std::span<const Command> commands() {
    static constexpr Command table[]{
        {
            .name = "hooks",
            .synopsis = "[--model M] [--names-filter F] [--json]",
            .description = "list the hook points of a model (name and shape; \"pos\" is the sequence axis)",
            .options = hooks_options,
            .run = hooks_command,
        },
        {
            .name = "heads",
            .synopsis = "[--model M] [--json]         previous-token, duplicate-token and\n"
                        "                             induction scores of every head",
            .description = "score every attention head as previous-token, duplicate-token and induction\n"
                           "head, on repeated random tokens (see the Heads view)",
            .options = heads_options,
            .run = heads_command,
        },
        {
            .name = "tokenize",
            .synopsis = "[--model M] --text TEXT [--no-prepend-bos] [--json]",
            .description = "the token ids a text becomes (BOS first unless --no-prepend-bos), with a\n"
                           "legible form of each token (␣ is a space)",
            .options = tokenize_options,
            .run = tokenize_command,
        },
        {
            .name = "run",
            .synopsis = "[--model M] (--prompt TEXT | --tokens 1,2,3) [--no-prepend-bos]\n"
                        "[--names-filter F] [--cache-limit SIZE] [--intervene SPEC]... --export FILE\n"
                        "[--pipeline [--world-size W --rank R --master HOST:PORT] [--dist-timeout SECONDS]]",
            .description = "one forward pass over a prompt, recording the hook points the names filter\n"
                           "selects, exported to FILE (.safetensors, or .npz for NumPy)",
            .options = run_options,
            .run = run_command,
        },
        {
            .name = "generate",
            .synopsis = "[--model M] (--prompt TEXT | --tokens 1,2,3) [--max-new-tokens N]\n"
                        "[--greedy | --temperature T --top-k K --top-p P] [--seed S]\n"
                        "[--repetition-penalty R] [--freq-penalty F] [--stop STRING]...\n"
                        "[--no-prepend-bos] [--names-filter F] [--cache-limit SIZE]\n"
                        "[--intervene SPEC]... [--export FILE] [--json]\n"
                        "[--pipeline [--world-size W --rank R --master HOST:PORT] [--dist-timeout SECONDS]]",
            .description = "generate after a prompt (KV-cached), streaming the new text to stdout;\n"
                           "with --export, one forward over prompt + output records the hook points\n"
                           "the names filter selects (what run would record over the output)",
            .options = generate_options,
            .run = generate_command,
        },
        {
            .name = "lens",
            .synopsis = "[--model M] (--prompt TEXT | --tokens 1,2,3) [--top-k K] [--intervene SPEC]... [--json]",
            .description = "the logit lens: each block's residual stream (hook_resid_pre, then the last\n"
                           "hook_resid_post) through the final norm and unembedding; the top K tokens\n"
                           "(default 5) and their probabilities at every position",
            .options = lens_options,
            .run = lens_command,
        },
        {
            .name = "attribute",
            .synopsis = "[--model M] (--prompt TEXT | --tokens 1,2,3) --position P --target ID\n"
                        "[--contrast ID] [--intervene SPEC]... [--json]",
            .description = "direct logit attribution: position P's logit for token ID (minus --contrast's)\n"
                           "split into embeddings, each head, each MLP, the output biases and the final\n"
                           "norm's constant, through the final norm frozen at its scale; P < 0 counts\n"
                           "from the end",
            .options = attribute_options,
            .run = attribute_command,
        },
        {
            .name = "patch",
            .synopsis = "[--model M] (--clean TEXT | --clean-tokens IDS) (--corrupted TEXT |\n"
                        "--corrupted-tokens IDS) [--answer ID | --answer-text T] [--wrong ID | --wrong-text T]\n"
                        "[--sites resid_pre,attn_out,mlp_out,head_out] [--intervene SPEC]... [--json]",
            .description = "activation patching: the corrupted prompt run with one activation from the\n"
                           "clean one, for every layer and position (resid_pre, attn_out, mlp_out) and\n"
                           "every layer and head (head_out: hook_z at all positions); the logit\n"
                           "difference answer - wrong at the last position, and its normalized form\n"
                           "(patched - corrupted) / (clean - corrupted). Defaults: answer = the clean\n"
                           "run's top prediction, wrong = the corrupted run's (its second if the same)",
            .options = patch_options,
            .run = patch_command,
        },
        {
            .name = "collect",
            .synopsis = "[--model M] --prompts FILE --names-filter F --out DIR [--max-positions N]\n"
                        "[--shard-size SIZE] [--batch-prompts N] [--no-prepend-bos]\n"
                        "[--world-size W --rank R --master HOST:PORT] [--dist-timeout SECONDS]",
            .description = "an activation dataset: every prompt of FILE (.jsonl with {\"text\": ...} or\n"
                           "{\"tokens\": [...]} per line, else one prompt per line) run once, the rows\n"
                           "of the per-token hook points F selects written to DIR as safetensors shards\n"
                           "of whole prompts and a manifest.json; rerunning it resumes. With a world\n"
                           "size above 1, one rank of a run over several processes or machines (rank R\n"
                           "takes batches R, R+W, ...; rank 0 writes the manifest)",
            .options = collect_options,
            .run = collect_command,
        },
        {
            .name = "inspect",
            .synopsis = "FILE [--json] | DIR [--verify] [--json]",
            .description = "list the metadata and tensors of an exported cache, or summarise an\n"
                           "activation dataset (with --verify: check every shard's SHA-256)",
            .options = inspect_options,
            .run = inspect_command,
        },
        {
            .name = "models",
            .synopsis = "[--json]",
            .description = "list the models in the local Hugging Face cache (usable as --model ORG/NAME)",
            .options = models_options,
            .run = models_command,
        },
    };
    return table;
}

std::string usage_text() {
    const std::size_t usage_column = kUsageIndent + std::string_view("hookscope ").size() + kUsageNameWidth + 1;
    const std::size_t list_column = kListIndent + kListNameWidth + 1;
    std::string text(kGuiUsage);
    for (const Command& c : commands()) {
        text += indented(std::string(kUsageIndent, ' ') + "hookscope " + padded(c.name, kUsageNameWidth), c.synopsis,
                         usage_column);
    }
    text += "\nSub-commands:\n";
    for (const Command& c : commands())
        text += indented(std::string(kListIndent, ' ') + padded(c.name, kListNameWidth), c.description, list_column);
    text += "\n";
    text += kOptionsHelp;
    return text;
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

bool opens_gui(const std::vector<std::string>& args) {
    if (!args.empty() && args.front().rfind("-", 0) != 0) return false; // a sub-command
    for (const std::string& a : args) {
        if (asks_for_help(a) || a == "--version") return false;
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
