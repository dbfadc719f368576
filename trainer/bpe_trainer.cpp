#include "trainer/bpe_trainer.h"

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/text/text_pipeline.h"
#include "bridge/text/unicode.h"

#include <nlohmann/json.hpp>

#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace hookscope {

namespace {

using Pair = uint64_t;
Pair pair_of(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t left_of(Pair p) {
    return static_cast<int32_t>(p >> 32);
}
int32_t right_of(Pair p) {
    return static_cast<int32_t>(p & 0xFFFFFFFFu);
}

// Bytes of the UTF-8 character that starts with `lead`.
std::size_t utf8_length(unsigned char lead) {
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

struct Word {
    std::vector<int32_t> symbols;
    int64_t count = 0;
};

// Adds `sign` x the word's count to each adjacent pair it holds.
void count_pairs(const Word& w, int sign, std::unordered_map<Pair, int64_t>& counts) {
    for (std::size_t i = 0; i + 1 < w.symbols.size(); ++i)
        counts[pair_of(w.symbols[i], w.symbols[i + 1])] += sign * w.count;
}

} // namespace

BpeVocabulary train_byte_level_bpe(std::string_view corpus, int64_t vocab_size,
                                   const std::vector<std::string>& special_tokens) {
    const auto specials = static_cast<int64_t>(special_tokens.size());
    if (vocab_size < 256 + specials) {
        throw InputError("a byte-level vocabulary needs at least " + std::to_string(256 + specials) +
                         " tokens (256 bytes and the special tokens), not " + std::to_string(vocab_size));
    }
    BpeVocabulary v;
    v.special_tokens = special_tokens;
    std::unordered_map<std::string, int32_t> id_of;
    for (unsigned b = 0; b < 256; ++b) {
        std::string token;
        unicode::append_utf8(token, byte_level_char(static_cast<unsigned char>(b)));
        id_of.emplace(token, static_cast<int32_t>(v.tokens.size()));
        v.tokens.push_back(std::move(token));
    }

    // The pieces of the corpus, counted; each as its byte tokens.
    std::vector<Piece> pieces{{std::string(corpus), true}};
    make_byte_level_pre_tokenizer(/*add_prefix_space=*/false)->apply(pieces);
    std::map<std::string, int64_t> piece_counts; // ordered: the same words in the same order every run
    for (const Piece& p : pieces)
        ++piece_counts[p.text];
    std::vector<Word> words;
    words.reserve(piece_counts.size());
    for (const auto& [text, count] : piece_counts) {
        Word w;
        w.count = count;
        std::size_t at = 0;
        while (at < text.size()) { // one byte-level character per byte token
            const std::size_t length = utf8_length(static_cast<unsigned char>(text[at]));
            w.symbols.push_back(id_of.at(text.substr(at, length)));
            at += length;
        }
        words.push_back(std::move(w));
    }

    std::unordered_map<Pair, int64_t> counts;
    std::unordered_map<Pair, std::unordered_set<std::size_t>> where; // may list words that lost the pair
    for (std::size_t i = 0; i < words.size(); ++i) {
        count_pairs(words[i], +1, counts);
        for (std::size_t k = 0; k + 1 < words[i].symbols.size(); ++k)
            where[pair_of(words[i].symbols[k], words[i].symbols[k + 1])].insert(i);
    }

    while (static_cast<int64_t>(v.tokens.size()) + specials < vocab_size) {
        const auto text_of = [&](Pair p) {
            return std::tie(v.tokens[static_cast<std::size_t>(left_of(p))],
                            v.tokens[static_cast<std::size_t>(right_of(p))]);
        };
        Pair best = 0;
        int64_t best_count = 0;
        for (const auto& [pair, count] : counts) {
            if (count < 2) continue; // a pair must occur twice to be worth a token
            if (count > best_count || (count == best_count && text_of(pair) < text_of(best))) {
                best = pair;
                best_count = count;
            }
        }
        if (best_count < 2) break;
        const int32_t left = left_of(best), right = right_of(best);
        const auto merged = static_cast<int32_t>(v.tokens.size());
        v.merges.emplace_back(v.tokens[static_cast<std::size_t>(left)], v.tokens[static_cast<std::size_t>(right)]);
        v.tokens.push_back(v.tokens[static_cast<std::size_t>(left)] + v.tokens[static_cast<std::size_t>(right)]);

        const std::unordered_set<std::size_t> affected = std::move(where[best]);
        where.erase(best);
        for (const std::size_t i : affected) {
            Word& w = words[i];
            count_pairs(w, -1, counts);
            std::vector<int32_t> out;
            out.reserve(w.symbols.size());
            for (std::size_t k = 0; k < w.symbols.size(); ++k) {
                if (k + 1 < w.symbols.size() && w.symbols[k] == left && w.symbols[k + 1] == right) {
                    out.push_back(merged);
                    ++k;
                } else {
                    out.push_back(w.symbols[k]);
                }
            }
            w.symbols = std::move(out);
            count_pairs(w, +1, counts);
            for (std::size_t k = 0; k + 1 < w.symbols.size(); ++k)
                where[pair_of(w.symbols[k], w.symbols[k + 1])].insert(i);
        }
        counts.erase(best);
        for (auto it = counts.begin(); it != counts.end();) // drop pairs no word holds any more
            it = it->second == 0 ? counts.erase(it) : std::next(it);
    }
    for (const std::string& s : special_tokens)
        v.tokens.push_back(s);
    return v;
}

void write_bpe_tokenizer(const std::filesystem::path& folder, const BpeVocabulary& v, int64_t model_max_length) {
    using nlohmann::ordered_json;
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    ordered_json vocab = ordered_json::object();
    for (std::size_t id = 0; id < v.tokens.size(); ++id)
        vocab[v.tokens[id]] = id;
    ordered_json merges = ordered_json::array();
    std::string merges_txt = "#version: 0.2\n";
    for (const auto& [a, b] : v.merges) {
        merges.push_back(a + " " + b);
        merges_txt += a + " " + b + "\n";
    }
    ordered_json added = ordered_json::array();
    const std::size_t first_special = v.tokens.size() - v.special_tokens.size();
    for (std::size_t k = 0; k < v.special_tokens.size(); ++k) {
        added.push_back({{"id", first_special + k},
                         {"content", v.special_tokens[k]},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", true},
                         {"special", true}});
    }
    const ordered_json byte_level = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    const ordered_json tokenizer = {{"version", "1.0"},
                                    {"truncation", nullptr},
                                    {"padding", nullptr},
                                    {"added_tokens", added},
                                    {"normalizer", nullptr},
                                    {"pre_tokenizer", byte_level},
                                    {"post_processor", byte_level},
                                    {"decoder", byte_level},
                                    {"model",
                                     {{"type", "BPE"},
                                      {"dropout", nullptr},
                                      {"unk_token", nullptr},
                                      {"continuing_subword_prefix", ""},
                                      {"end_of_word_suffix", ""},
                                      {"fuse_unk", false},
                                      {"byte_fallback", false},
                                      {"vocab", vocab},
                                      {"merges", merges}}}};
    write_text_atomically(folder / "tokenizer.json", tokenizer.dump(2) + "\n");
    write_text_atomically(folder / "vocab.json", vocab.dump() + "\n");
    write_text_atomically(folder / "merges.txt", merges_txt);
    ordered_json config = {
        {"tokenizer_class", "GPT2Tokenizer"}, {"model_max_length", model_max_length}, {"add_prefix_space", false}};
    if (!v.special_tokens.empty()) {
        config["bos_token"] = v.special_tokens.front();
        config["eos_token"] = v.special_tokens.front();
        config["unk_token"] = v.special_tokens.front();
    }
    write_text_atomically(folder / "tokenizer_config.json", config.dump(2) + "\n");
}

} // namespace hookscope
