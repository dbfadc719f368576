// hookscope-train: builds the bundled default model's pieces. Never run by CI.
//
//   hookscope-train tokenizer --corpus FILE --vocab-size N --out DIR
//       trains a byte-level BPE vocabulary (GPT-2's scheme, <|endoftext|> last) and
//       writes tokenizer.json, vocab.json, merges.txt and tokenizer_config.json.
//
//   hookscope-train model --train FILE --valid FILE --tokenizer DIR --out DIR --work DIR
//       [--steps N] [--batch B] [--warmup W] [--lr X] [--seed S]
//       [--repeat-share R] [--repeat-ramp N] [--repeat-longest N]
//       [--layers L] [--heads H] [--d-model D] [--context C] [--position-init normal|sinusoidal]
//       [--short-steps N] [--short-context C] [--short-placement start|anywhere|spread]
//       [--eval-every N] [--checkpoint-every N] [--stop-at N] [--threads N]
//       trains the GPT-2 (AdamW, warm-up then cosine decay, gradient clipping at 1),
//       resuming from --work's checkpoint when there is one, and exports it to --out.
//
//   hookscope-train evaluate --model DIR --train FILE --valid FILE [--threads N]
//       the exported model's validation loss and perplexity over the whole validation
//       text, against a unigram baseline fitted to the training text.

#include "bridge/core/json_file.h"
#include "trainer/bpe_trainer.h"
#include "trainer/train_model.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace {

int usage() {
    std::cerr << "usage: hookscope-train tokenizer --corpus FILE --vocab-size N --out DIR\n"
                 "       hookscope-train model --train FILE --valid FILE --tokenizer DIR --out DIR --work DIR "
                 "[options]\n"
                 "       hookscope-train evaluate --model DIR --train FILE --valid FILE\n";
    return 2;
}

int train_tokenizer(const std::map<std::string, std::string>& options) {
    if (!options.count("--corpus") || !options.count("--vocab-size") || !options.count("--out")) return usage();
    const std::string corpus = hookscope::read_text_file(options.at("--corpus"), std::uintmax_t{1} << 32);
    const int64_t vocab_size = std::stoll(options.at("--vocab-size"));
    const auto start = std::chrono::steady_clock::now();
    const hookscope::BpeVocabulary v = hookscope::train_byte_level_bpe(corpus, vocab_size, {"<|endoftext|>"});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    hookscope::write_bpe_tokenizer(options.at("--out"), v, 1024);
    std::cout << "trained " << v.tokens.size() << " tokens (" << v.merges.size() << " merges) on " << corpus.size()
              << " bytes in " << seconds << " s; wrote " << options.at("--out") << "\n";
    return 0;
}

} // namespace

int train(const std::map<std::string, std::string>& options) {
    hookscope::train::TrainOptions o;
    for (const char* required : {"--train", "--valid", "--tokenizer", "--out", "--work"}) {
        if (!options.count(required)) return usage();
    }
    o.train = options.at("--train");
    o.valid = options.at("--valid");
    o.tokenizer = options.at("--tokenizer");
    o.out = options.at("--out");
    o.work = options.at("--work");
    const auto integer = [&](const char* key, int64_t& out) {
        if (options.count(key)) out = std::stoll(options.at(key));
    };
    const auto number = [&](const char* key, double& out) {
        if (options.count(key)) out = std::stod(options.at(key));
    };
    integer("--steps", o.steps);
    integer("--batch", o.batch);
    integer("--warmup", o.warmup);
    integer("--layers", o.shape.layers);
    integer("--heads", o.shape.heads);
    integer("--d-model", o.shape.d_model);
    integer("--context", o.shape.context);
    integer("--eval-every", o.eval_every);
    integer("--checkpoint-every", o.checkpoint_every);
    integer("--stop-at", o.stop_at);
    integer("--repeat-ramp", o.repeat_ramp);
    integer("--repeat-longest", o.repeat_longest);
    integer("--short-steps", o.short_steps);
    integer("--short-context", o.short_context);
    if (options.count("--short-placement")) {
        const std::string placement = options.at("--short-placement");
        using Placement = hookscope::train::TrainOptions::Placement;
        if (placement == "start")
            o.short_placement = Placement::Start;
        else if (placement == "anywhere")
            o.short_placement = Placement::Anywhere;
        else if (placement == "spread")
            o.short_placement = Placement::Spread;
        else
            return usage();
    }
    if (options.count("--position-init")) {
        const std::string init = options.at("--position-init");
        if (init != "sinusoidal" && init != "normal") return usage();
        o.sinusoidal_positions = init == "sinusoidal";
    }
    number("--lr", o.lr);
    number("--repeat-share", o.repeat_share);
    if (options.count("--seed")) o.seed = std::stoull(options.at("--seed"));
    if (options.count("--threads")) o.threads = std::stoi(options.at("--threads"));
    return hookscope::train::train_model(o);
}

int evaluate(const std::map<std::string, std::string>& options) {
    for (const char* required : {"--model", "--train", "--valid"}) {
        if (!options.count(required)) return usage();
    }
    hookscope::train::EvaluateOptions o;
    o.model = options.at("--model");
    o.train = options.at("--train");
    o.valid = options.at("--valid");
    if (options.count("--threads")) o.threads = std::stoi(options.at("--threads"));
    const hookscope::train::Evaluation e = hookscope::train::evaluate_model(o);
    std::printf("validation: %lld tokens, %lld whole windows of %lld (%lld predictions)\n",
                static_cast<long long>(e.tokens), static_cast<long long>(e.windows), static_cast<long long>(e.context),
                static_cast<long long>(e.windows * e.context));
    std::printf("model:            loss %.4f  perplexity %.2f\n", e.loss, std::exp(e.loss));
    std::printf("unigram baseline: loss %.4f  perplexity %.2f\n", e.unigram_loss, std::exp(e.unigram_loss));
    std::printf("margin: %.4f nats per token, perplexity %.1fx lower\n", e.unigram_loss - e.loss,
                std::exp(e.unigram_loss - e.loss));
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    std::map<std::string, std::string> options;
    for (int i = 2; i + 1 < argc; i += 2)
        options[argv[i]] = argv[i + 1];
    try {
        if (command == "tokenizer") return train_tokenizer(options);
        if (command == "model") return train(options);
        if (command == "evaluate") return evaluate(options);
    } catch (const std::exception& e) {
        std::cerr << "hookscope-train: " << e.what() << "\n";
        return 1;
    }
    return usage();
}
