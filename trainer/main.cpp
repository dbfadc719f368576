// hookscope-train: builds the bundled default model's pieces. Never run by CI.
//
//   hookscope-train tokenizer --corpus FILE --vocab-size N --out DIR
//       trains a byte-level BPE vocabulary (GPT-2's scheme, <|endoftext|> last) and
//       writes tokenizer.json, vocab.json, merges.txt and tokenizer_config.json.

#include "bridge/bpe_trainer.h"
#include "bridge/json_file.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace {

int usage() {
    std::cerr << "usage: hookscope-train tokenizer --corpus FILE --vocab-size N --out DIR\n";
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

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    std::map<std::string, std::string> options;
    for (int i = 2; i + 1 < argc; i += 2)
        options[argv[i]] = argv[i + 1];
    try {
        if (command == "tokenizer") return train_tokenizer(options);
    } catch (const std::exception& e) {
        std::cerr << "hookscope-train: " << e.what() << "\n";
        return 1;
    }
    return usage();
}
