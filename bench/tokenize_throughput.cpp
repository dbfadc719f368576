// Encoding throughput of the tokenizer, in MB/s (10^6 bytes of UTF-8 text per second).
// Each repetition encodes the whole text with a freshly loaded tokenizer (cold piece cache). Prints one
// JSON object; with --per-rep, one per repetition (for interleaving with another encoder,
// see tokenize_vs_js.sh). Target: at least 5 MB/s on English text with GPT-2's vocabulary.
//
// usage: bench_tokenize [--tokenizer DIR] [--text FILE] [--reps N] [--by-line] [--per-rep] [--smoke]
//   --by-line  encode one line at a time (each with its newline), as the JavaScript
//              comparison must (see js_encode.js)
//   DIR   a folder with tokenizer.json or vocab.json + merges.txt (default: the GPT-2
//         vocabulary in tests/fixtures/tokenizers/gpt2)
//   FILE  UTF-8 text (default: the King James Bible, from `bible -f Gen1:1-Rev22:21`,
//         Debian package bible-kjv)
//   --smoke  a few hundred KB, two repetitions (what CI runs)

#include "bench/args.h"
#include "bridge/core/json_file.h"
#include "bridge/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

using namespace hookscope;
using hookscope::bench::BenchArgs;
using nlohmann::json;

namespace {

std::string bible_text() {
    std::string text;
    FILE* pipe = popen("bible -f Gen1:1-Rev22:21 2>/dev/null", "r");
    if (!pipe) return text;
    char buffer[1 << 16];
    std::size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
        text.append(buffer, n);
    pclose(pipe);
    return text;
}

// Texts of the tokenizer test cases, repeated: the smoke run's fallback when the Bible
// is not installed.
std::string fixture_text() {
    const json cases = read_json_file(std::string(HOOKSCOPE_SOURCE_DIR) + "/tests/fixtures/tokenizers/gpt2/cases.json");
    std::string text;
    while (text.size() < 300'000) {
        for (const json& c : cases["cases"]) {
            text += c["text"].get<std::string>();
            text += '\n';
        }
    }
    return text;
}

// FNV-1a over the ids as 32-bit numbers, to check two encoders agree.
uint32_t checksum(const std::vector<int64_t>& ids) {
    uint32_t hash = 2166136261u;
    for (const int64_t id : ids) {
        hash ^= static_cast<uint32_t>(id);
        hash *= 16777619u;
    }
    return hash;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string tokenizer_dir = std::string(HOOKSCOPE_SOURCE_DIR) + "/tests/fixtures/tokenizers/gpt2";
    std::string text_file;
    int reps = 5;
    bool smoke = false, per_rep = false, by_line = false;
    const bool parsed = BenchArgs("bench_tokenize")
                            .text("--tokenizer", tokenizer_dir, "DIR")
                            .text("--text", text_file, "FILE")
                            .integer("--reps", reps, 1)
                            .flag("--by-line", by_line)
                            .flag("--per-rep", per_rep)
                            .flag("--smoke", smoke)
                            .parse(argc, argv);
    if (!parsed) return 2;
    try {
        std::string text = text_file.empty() ? bible_text() : read_text_file(text_file, std::uintmax_t{1} << 32);
        std::string source = text_file.empty() ? "bible -f Gen1:1-Rev22:21" : text_file;
        if (text.empty() && smoke) {
            text = fixture_text();
            source = "tokenizer test cases, repeated";
        }
        if (text.empty()) {
            std::cerr << "bench_tokenize: no text: install bible-kjv (apt-get install bible-kjv) or pass --text FILE\n";
            return 1;
        }
        if (smoke) {
            text.resize(std::min<std::size_t>(text.size(), 300'000));
            while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
                text.pop_back(); // do not cut a character in two
            reps = 2;
        }
        std::vector<std::string_view> chunks;
        for (std::size_t start = 0; start < text.size();) {
            const std::size_t newline = by_line ? text.find('\n', start) : std::string::npos;
            const std::size_t end = newline == std::string::npos ? text.size() : newline + 1;
            chunks.push_back(std::string_view(text).substr(start, end - start));
            start = end;
        }
        std::vector<double> rates;
        std::vector<int64_t> ids;
        for (int r = 0; r < reps; ++r) {
            // A fresh tokenizer per repetition: its piece cache starts empty. Loading is not timed.
            const Tokenizer tokenizer = Tokenizer::load(tokenizer_dir);
            const auto start = std::chrono::steady_clock::now();
            ids.clear();
            for (const std::string_view chunk : chunks) {
                const std::vector<int64_t> chunk_ids = tokenizer.encode(chunk);
                ids.insert(ids.end(), chunk_ids.begin(), chunk_ids.end());
            }
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            rates.push_back(static_cast<double>(text.size()) / 1e6 / seconds);
            if (per_rep) {
                std::cout << json{{"encoder", "hookscope"},
                                  {"mb_per_s", rates.back()},
                                  {"tokens", ids.size()},
                                  {"checksum", checksum(ids)}}
                                 .dump()
                          << "\n";
            }
        }
        if (per_rep) return 0;
        std::cout << json{{"benchmark", "tokenize"},
                          {"tokenizer", tokenizer_dir},
                          {"text", source},
                          {"by_line", by_line},
                          {"text_bytes", text.size()},
                          {"tokens", ids.size()},
                          {"checksum", checksum(ids)},
                          {"reps", reps},
                          {"mb_per_s_median", median(rates)},
                          {"mb_per_s_min", *std::min_element(rates.begin(), rates.end())},
                          {"mb_per_s_max", *std::max_element(rates.begin(), rates.end())},
                          {"bound_mb_per_s_at_least", 5.0}}
                         .dump(2)
                  << "\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_tokenize: " << e.what() << "\n";
        return 1;
    }
}
