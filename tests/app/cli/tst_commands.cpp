// The command line in-process: the option parser, the table of sub-commands and the
// --help text built from it, the dispatch and its exit codes, and which arguments open
// the GUI. tst_cli runs the installed binary end to end.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/options.h"
#include "support/test_main.h"

#include <QRegularExpression>
#include <QtTest>

#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace tst_commands {

using namespace hookscope;
using namespace hookscope::cli;

namespace {

using Args = std::vector<std::string>;

// `stream`'s output while it lives, into a string.
class Capture {
public:
    explicit Capture(std::ostream& stream) : stream_(stream), old_(stream.rdbuf(buffer_.rdbuf())) {}
    ~Capture() { stream_.rdbuf(old_); }
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;
    std::string text() const { return buffer_.str(); }

private:
    std::ostream& stream_;
    std::ostringstream buffer_;
    std::streambuf* old_;
};

// run(args) with stdout and stderr captured.
struct Outcome {
    int code = -1;
    std::string out, err;
};
Outcome run_captured(const Args& args) {
    Outcome o;
    Capture out(std::cout), err(std::cerr);
    o.code = cli::run(args);
    o.out = out.text();
    o.err = err.text();
    return o;
}

// The UsageError message parsing `args` against `spec` throws; empty when none.
std::string usage_error(const Args& args, const OptionSpec& spec, const std::string& command = "cmd") {
    try {
        Options options(args, spec, command);
    } catch (const UsageError& e) {
        return e.what();
    }
    return {};
}

// The UsageError message `read` throws on options parsed from `args`; empty when none.
template <typename Read> std::string read_error(const Args& args, const OptionSpec& spec, Read read) {
    const Options options(args, spec, "cmd");
    try {
        read(options);
    } catch (const UsageError& e) {
        return e.what();
    }
    return {};
}

const OptionSpec kSpec{{"--json"}, {"--model", "--top-k", "--seed", "--temperature", "--position"}, {"--stop"}, 1};

// Where `line` starts in `text`, as a whole line; npos when it is not there.
std::size_t line_at(const std::string& text, const std::string& line) {
    const std::size_t at = text.find("\n" + line + "\n");
    return at == std::string::npos ? at : at + 1;
}

} // namespace

class TestCommands : public QObject {
    Q_OBJECT

private slots:
    void valuesInBothForms() {
        const Options o({"--model", "m", "--top-k=3", "--seed=", "--json"}, kSpec, "cmd");
        QCOMPARE(o.value("--model").value(), std::string("m"));
        QCOMPARE(o.value("--top-k").value(), std::string("3"));
        QCOMPARE(o.value("--seed").value(), std::string("")); // given, empty
        QVERIFY(!o.value("--temperature").has_value());
        QVERIFY(o.flag("--json"));
        QCOMPARE(o.positive_int("--top-k").value(), 3);
        QVERIFY(!o.positive_int("--temperature").has_value()); // absent: no value, no error
        QVERIFY(o.positionals().empty());
    }

    void flagsAndPositionals() {
        const Options o({"file.safetensors", "--json"}, kSpec, "cmd");
        QVERIFY(o.flag("--json"));
        QCOMPARE(o.positionals(), Args{"file.safetensors"});
        // A lone dash is no option: after --model it is the value, else a positional.
        const Options dash({"--model", "-", "-"}, kSpec, "cmd");
        QCOMPARE(dash.value("--model").value(), std::string("-"));
        QCOMPARE(dash.positionals(), Args{"-"});
        QVERIFY(!Options({}, kSpec, "cmd").flag("--json"));
    }

    void repeatedOptions() {
        const Options o({"--stop", "a", "--stop=b", "--stop", "--json"}, kSpec, "cmd");
        QCOMPARE(o.values("--stop"), (Args{"a", "b", "--json"})); // the value after an option is taken as given
        QVERIFY(!o.flag("--json"));
        QCOMPARE(o.value("--stop").value(), std::string("a"));
        QVERIFY(Options({}, kSpec, "cmd").values("--stop").empty());
        // A single-valued option may not repeat.
        QCOMPARE(usage_error({"--model", "a", "--model=b"}, kSpec), std::string("option --model given twice"));
    }

    void parseErrors() {
        QCOMPARE(usage_error({"--frob"}, kSpec, "hooks"), std::string("unknown option --frob for `hooks`"));
        QCOMPARE(usage_error({"--frob=1"}, kSpec, "hooks"), std::string("unknown option --frob for `hooks`"));
        QCOMPARE(usage_error({"--model"}, kSpec), std::string("option --model needs a value"));
        QCOMPARE(usage_error({"--json", "--stop"}, kSpec), std::string("option --stop needs a value"));
        QCOMPARE(usage_error({"--json=yes"}, kSpec), std::string("option --json takes no value"));
        QCOMPARE(usage_error({"a", "b"}, kSpec, "inspect"), std::string("unexpected argument `b` for `inspect`"));
        QCOMPARE(usage_error({"a"}, spec({}, {}), "models"), std::string("unexpected argument `a` for `models`"));
        QCOMPARE(usage_error({"-h"}, spec({}, {}), "models"), std::string("unexpected argument `-h` for `models`"));
        QCOMPARE(usage_error({"--model", "m", "file", "--top-k", "2"}, kSpec), std::string());
    }

    void numberErrors() {
        const auto top_k = [](const Options& o) { (void)o.positive_int("--top-k"); };
        QCOMPARE(read_error({"--top-k", "0"}, kSpec, top_k),
                 std::string("option --top-k needs a positive integer, got `0`"));
        QCOMPARE(read_error({"--top-k=-2"}, kSpec, top_k),
                 std::string("option --top-k needs a positive integer, got `-2`"));
        QCOMPARE(read_error({"--top-k", "3x"}, kSpec, top_k),
                 std::string("option --top-k needs a positive integer, got `3x`"));
        QCOMPARE(read_error({"--top-k", ""}, kSpec, top_k),
                 std::string("option --top-k needs a positive integer, got ``"));
        QCOMPARE(read_error({"--top-k", "99999999999"}, kSpec, top_k),
                 std::string("option --top-k needs a positive integer, got `99999999999`"));

        const auto seed = [](const Options& o) { (void)o.unsigned_int("--seed"); };
        QCOMPARE(read_error({"--seed", "-1"}, kSpec, seed),
                 std::string("option --seed needs a non-negative integer, got `-1`"));
        QCOMPARE(read_error({"--seed", "18446744073709551616"}, kSpec, seed),
                 std::string("option --seed needs a non-negative integer, got `18446744073709551616`"));
        QCOMPARE(Options({"--seed", "18446744073709551615"}, kSpec, "cmd").unsigned_int("--seed").value(),
                 uint64_t{18446744073709551615ULL});
        QCOMPARE(Options({"--seed", "0"}, kSpec, "cmd").unsigned_int("--seed").value(), uint64_t{0});

        const auto temperature = [](const Options& o) { (void)o.number("--temperature"); };
        for (const char* bad : {"warm", "nan", "inf", "1e999", "0.5x"}) {
            QCOMPARE(read_error({"--temperature", bad}, kSpec, temperature),
                     "option --temperature needs a number, got `" + std::string(bad) + "`");
        }
        QCOMPARE(Options({"--temperature", "0.25"}, kSpec, "cmd").number("--temperature").value(), 0.25);
        QCOMPARE(Options({"--temperature", "-3"}, kSpec, "cmd").number("--temperature").value(), -3.0);

        const auto position = [](const Options& o) { (void)o.integer("--position"); };
        QCOMPARE(read_error({"--position", "1.5"}, kSpec, position),
                 std::string("option --position needs an integer, got `1.5`"));
        QCOMPARE(Options({"--position=-1"}, kSpec, "cmd").integer("--position").value(), int64_t{-1});
    }

    void cacheLimit() {
        QVERIFY(!parse_cache_limit("none").has_value());
        const auto limit = parse_cache_limit("8G");
        QVERIFY(limit.has_value());
        QCOMPARE(limit->bytes, uint64_t{8'000'000'000});
        QVERIFY(!limit->available.has_value()); // set by the user, not a share of memory
        try {
            (void)parse_cache_limit("lots");
            QFAIL("no UsageError");
        } catch (const UsageError& e) {
            QCOMPARE(std::string(e.what()),
                     std::string("--cache-limit needs a size such as 500M or 8G, or none; got `lots`"));
        }
    }

    void commonOptions() {
        // spec() adds --dtype and --threads to what a command lists.
        const OptionSpec s = spec({"--json"}, {"--model"}, 1, {"--stop"});
        QCOMPARE(s.flags, (std::set<std::string>{"--json"}));
        QCOMPARE(s.values, (std::set<std::string>{"--dtype", "--model", "--threads"}));
        QCOMPARE(s.repeated, (std::set<std::string>{"--stop"}));
        QCOMPARE(s.max_positionals, 1);
        QVERIFY(spec({}, {}).repeated.empty());
        QCOMPARE(spec({}, {}).max_positionals, 0);
        // Every command takes them.
        for (const Command& c : commands()) {
            const OptionSpec accepted = c.options();
            QVERIFY2(accepted.values.count("--dtype") && accepted.values.count("--threads"), c.name.data());
        }
        // A wrong --dtype is a usage error before anything else happens.
        const Options wrong({"--dtype", "float16"}, spec({}, {}), "cmd");
        try {
            (void)apply_common(wrong);
            QFAIL("no UsageError");
        } catch (const UsageError& e) {
            QCOMPARE(std::string(e.what()), std::string("--dtype must be float32 or bfloat16, got `float16`"));
        }
    }

    void table() {
        std::vector<std::string_view> names;
        for (const Command& c : commands()) {
            QVERIFY(c.options != nullptr && c.run != nullptr);
            QVERIFY(!c.synopsis.empty() && !c.description.empty());
            names.push_back(c.name);
        }
        const std::vector<std::string_view> expected{"hooks",     "heads", "tokenize", "run",     "generate", "lens",
                                                     "attribute", "patch", "collect",  "inspect", "models"};
        QCOMPARE(names, expected);
        // Only `inspect` takes a positional (its FILE); the commands that run the model
        // take --intervene, repeated, and `generate` --stop too.
        const std::set<std::string_view> intervening{"run", "generate", "lens", "attribute", "patch"};
        for (const Command& c : commands()) {
            const OptionSpec accepted = c.options();
            QCOMPARE(accepted.max_positionals, c.name == "inspect" ? 1 : 0);
            std::set<std::string> repeated;
            if (intervening.count(c.name)) repeated.insert("--intervene");
            if (c.name == "generate") repeated.insert("--stop");
            QCOMPARE(accepted.repeated, repeated);
        }
    }

    void usageFollowsTable() {
        const std::string usage = usage_text();
        QVERIFY(usage.rfind("usage: hookscope [--model M] [--prompt TEXT] [--cache-limit SIZE]\n", 0) == 0);
        const std::size_t list = usage.find("\nSub-commands:\n");
        const std::size_t options = usage.find("\nOptions:\n");
        QVERIFY(list != std::string::npos && options != std::string::npos && list < options);
        QVERIFY(usage.ends_with("\nExit codes: 0 success, 1 an error in the input or the run, 2 a usage error.\n"));

        // Each command: a usage line and a description, both in table order.
        std::size_t last_usage = 0, last_item = list;
        for (const Command& c : commands()) {
            const std::string name(c.name);
            const std::size_t at = usage.find("       hookscope " + name + " ");
            QVERIFY2(at != std::string::npos && at > last_usage && at < list, name.c_str());
            last_usage = at;
            const std::size_t item = usage.find("\n  " + name + " ", list);
            QVERIFY2(item != std::string::npos && item > last_item && item < options, name.c_str());
            last_item = item;
        }
        // The lines as the table lays them out: names padded, further lines indented.
        QVERIFY(line_at(usage, "       hookscope hooks    [--model M] [--names-filter F] [--json]") < list);
        QVERIFY(line_at(usage, "       hookscope attribute [--model M] (--prompt TEXT | --tokens 1,2,3) --position P "
                               "--target ID") < list);
        QVERIFY(line_at(usage, "                          [--contrast ID] [--intervene SPEC]... [--json]") < list);
        QVERIFY(line_at(usage, "       hookscope heads    [--model M] [--json]         previous-token, "
                               "duplicate-token and") < list);
        QVERIFY(line_at(usage, std::string(55, ' ') + "induction scores of every head") < list);
        QVERIFY(line_at(usage, "  hooks     list the hook points of a model (name and shape; \"pos\" is the sequence "
                               "axis)") > list);
        QVERIFY(line_at(usage, "  attribute direct logit attribution: position P's logit for token ID (minus "
                               "--contrast's)") > list);
        QVERIFY(line_at(usage, "            from the end") > list);
        QVERIFY(line_at(usage, "  models    list the models in the local Hugging Face cache (usable as --model "
                               "ORG/NAME)") > list);

        // Every option a command accepts is in the text, as a whole word.
        for (const Command& c : commands()) {
            const OptionSpec accepted = c.options();
            for (const auto* names : {&accepted.flags, &accepted.values, &accepted.repeated}) {
                for (const std::string& option : *names) {
                    const QRegularExpression word(
                        "(?<![\\w-])" + QRegularExpression::escape(QString::fromStdString(option)) + "(?![\\w-])");
                    QVERIFY2(QString::fromStdString(usage).contains(word),
                             (std::string(c.name) + " " + option).c_str());
                }
            }
        }
        // The options the dispatch and the GUI handle themselves.
        for (const char* option : {"--help", "--version", "--screenshot", "--view", "--head"})
            QVERIFY2(usage.find(option) != std::string::npos, option);
    }

    void help() {
        for (const Args& args : {Args{"--help"}, Args{"-h"}, Args{"--model", "m", "--help"}, Args{"hooks", "--help"},
                                 Args{"generate", "--frob", "-h"}, Args{"bogus", "--help"}}) {
            const Outcome o = run_captured(args);
            QCOMPARE(o.code, 0);
            QCOMPARE(o.out, usage_text());
            QCOMPARE(o.err, std::string());
        }
    }

    void version() {
        const Outcome o = run_captured({"--version"});
        QCOMPARE(o.code, 0);
        QVERIFY2(o.out.rfind(std::string("hookscope ") + HOOKSCOPE_VERSION + " (git ", 0) == 0, o.out.c_str());
        QCOMPARE(o.err, std::string());
    }

    void usageErrors() {
        const struct {
            Args args;
            std::string message;
        } cases[] = {
            {{"frobnicate"}, "unknown command `frobnicate`"},
            {{"frobnicate", "--json"}, "unknown command `frobnicate`"},
            {{"hooks", "--frob"}, "unknown option --frob for `hooks`"},
            {{"hooks", "--model"}, "option --model needs a value"},
            {{"models", "extra"}, "unexpected argument `extra` for `models`"},
            {{"inspect", "a", "b"}, "unexpected argument `b` for `inspect`"},
            {{"generate", "--json=1"}, "option --json takes no value"},
            {{"lens", "--stop", "x"}, "unknown option --stop for `lens`"},
            {{}, "the GUI opens through main(); this is the command line"},
            {{"--model", "m"}, "the GUI opens through main(); this is the command line"},
        };
        for (const auto& c : cases) {
            const Outcome o = run_captured(c.args);
            QCOMPARE(o.code, int(kUsageError));
            QCOMPARE(o.err, "hookscope: " + c.message + " (see hookscope --help)\n");
            QCOMPARE(o.out, std::string());
        }
    }

    void runErrors() {
        // An error in the input: exit code 1, the message alone.
        const Outcome o = run_captured({"inspect", "activations.npz"});
        QCOMPARE(o.code, int(kRunError));
        QCOMPARE(o.err, std::string("hookscope: `inspect` reads safetensors exports; open .npz files with "
                                    "numpy.load(FILE, allow_pickle=False) or export to .safetensors\n"));
        QCOMPARE(o.out, std::string());
    }

    void opensGui() {
        QVERIFY(opens_gui({}));
        QVERIFY(opens_gui({"--model", "m"}));
        QVERIFY(opens_gui({"--screenshot", "shot.png", "--head", "1.4"}));
        QVERIFY(opens_gui({"--model", "hooks"})); // "hooks" is --model's value here
        QVERIFY(!opens_gui({"hooks"}));
        QVERIFY(!opens_gui({"bogus"})); // the command line says it is unknown
        QVERIFY(!opens_gui({"--help"}));
        QVERIFY(!opens_gui({"-h"}));
        QVERIFY(!opens_gui({"--version"}));
        QVERIFY(!opens_gui({"--model", "m", "--version"}));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCommands)

} // namespace tst_commands
#include "tst_commands.moc"
