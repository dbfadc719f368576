#include "bridge/text/tokenizer.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"
#include "bridge/text/bpe.h"
#include "bridge/text/text_pipeline.h"
#include "bridge/text/unicode.h"

#include <nlohmann/json.hpp>

#include <array>
#include <mutex>
#include <unordered_map>

namespace hookscope {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Pieces longer than this are encoded without caching (they rarely repeat).
constexpr std::size_t kMaxCachedPiece = 256;
// The piece cache stops growing here (about 10 MB of short pieces).
constexpr std::size_t kMaxCachedPieces = 100'000;

struct AddedToken {
    std::string content;
    int64_t id = 0;
    bool special = false;
    bool normalized = false;  // matched in normalized text (after normalizing its content too)
    std::string pattern;      // what is matched: content, normalized when `normalized`
    bool single_word = false; // only matches as a whole word
    bool lstrip = false;      // takes the white space on its left with it
    bool rstrip = false;      // ... and on its right
};

// A token of a vocab.json + merges.txt folder: no normalizer, so none is "normalized".
AddedToken plain_added_token(std::string content, int64_t id, bool special) {
    AddedToken t;
    t.content = std::move(content);
    t.id = id;
    t.special = special;
    return t;
}

// One stretch of the input: text to normalize, pre-tokenize and encode, or one added token.
struct Segment {
    std::string_view text;
    std::optional<int64_t> id;
    std::size_t offset = 0;
};

bool is_word_char_before(std::string_view text, std::size_t end) {
    if (end == 0) return false;
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
        --start;
    const std::size_t n = unicode::valid_sequence_length(text.substr(start, end - start));
    return n > 0 && unicode::is_word_char(unicode::decode_at(text.substr(start), n));
}

bool is_word_char_at(std::string_view text, std::size_t start) {
    const std::size_t n = unicode::valid_sequence_length(text.substr(start));
    return n > 0 && unicode::is_word_char(unicode::decode_at(text.substr(start), n));
}

std::size_t white_space_before(std::string_view text, std::size_t end, std::size_t floor) {
    while (end > floor) {
        std::size_t start = end - 1;
        while (start > floor && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
            --start;
        const std::size_t n = unicode::valid_sequence_length(text.substr(start, end - start));
        if (n == 0 || !unicode::is_white_space(unicode::decode_at(text.substr(start), n))) break;
        end = start;
    }
    return end;
}

std::size_t white_space_after(std::string_view text, std::size_t start) {
    while (start < text.size()) {
        const std::size_t n = unicode::valid_sequence_length(text.substr(start));
        if (n == 0 || !unicode::is_white_space(unicode::decode_at(text.substr(start), n))) break;
        start += n;
    }
    return start;
}

} // namespace

struct Tokenizer::Impl {
    std::string origin;
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> pre_tokenizer;
    std::unique_ptr<Decoder> decoder; // none: tokens joined with spaces, as Hugging Face does
    std::optional<BpeModel> model;
    std::vector<AddedToken> added;
    std::unordered_map<int64_t, std::size_t> added_by_id;
    TokenIds added_by_content;
    // Added tokens by the first byte of their pattern, longest first: those matched in
    // the raw text, and those matched after normalization (Hugging Face's two passes).
    using TokenIndex = std::array<std::vector<std::size_t>, 256>;
    TokenIndex raw_tokens, normalized_tokens;
    int64_t vocab_size = 0;

    // Ids of pieces seen before, shared by every encode call (and thread).
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int64_t>, StringHash, std::equal_to<>> cache;

    void encode_piece(const std::string& piece, std::vector<int64_t>& ids) const {
        if (piece.size() > kMaxCachedPiece) {
            model->encode(piece, ids);
            return;
        }
        {
            const std::lock_guard lock(cache_mutex);
            if (const auto it = cache.find(piece); it != cache.end()) {
                ids.insert(ids.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        const std::size_t first = ids.size();
        model->encode(piece, ids);
        const std::lock_guard lock(cache_mutex);
        if (cache.size() < kMaxCachedPieces) cache.try_emplace(piece, ids.begin() + first, ids.end());
    }

    void index_added_tokens() {
        vocab_size = model->id_end();
        for (std::size_t k = 0; k < added.size(); ++k) {
            AddedToken& t = added[k];
            added_by_id[t.id] = k;
            added_by_content[t.content] = t.id;
            vocab_size = std::max(vocab_size, t.id + 1);
            t.pattern = t.normalized && normalizer ? normalizer->apply(t.content) : t.content;
            if (t.pattern.empty()) continue;
            TokenIndex& index = t.normalized ? normalized_tokens : raw_tokens;
            index[static_cast<unsigned char>(t.pattern.front())].push_back(k);
        }
        for (TokenIndex* index : {&raw_tokens, &normalized_tokens}) {
            for (auto& list : *index) {
                std::stable_sort(list.begin(), list.end(), [&](std::size_t a, std::size_t b) {
                    return added[a].pattern.size() > added[b].pattern.size();
                });
            }
        }
    }

    // Splits `text` at the added tokens of `index` it contains, leftmost first, longest
    // first. `offset`: where `text` starts in the whole input.
    std::vector<Segment> segments(std::string_view text, const TokenIndex& index, std::size_t offset) const {
        std::vector<Segment> out;
        std::size_t text_start = 0; // start of the pending text segment
        std::size_t i = 0;
        while (i < text.size()) {
            const auto& candidates = index[static_cast<unsigned char>(text[i])];
            const AddedToken* found = nullptr;
            for (const std::size_t k : candidates) {
                const AddedToken& t = added[k];
                if (text.compare(i, t.pattern.size(), t.pattern) != 0) continue;
                if (t.single_word && (is_word_char_before(text, i) || is_word_char_at(text, i + t.pattern.size()))) {
                    continue;
                }
                found = &t;
                break;
            }
            if (!found) {
                ++i;
                continue;
            }
            const std::size_t text_end = found->lstrip ? white_space_before(text, i, text_start) : i;
            if (text_end > text_start) {
                out.push_back({text.substr(text_start, text_end - text_start), {}, offset + text_start});
            }
            out.push_back({text.substr(i, found->pattern.size()), found->id, offset + i});
            i += found->pattern.size();
            if (found->rstrip) i = white_space_after(text, i);
            text_start = i;
        }
        if (text_start < text.size()) out.push_back({text.substr(text_start), {}, offset + text_start});
        return out;
    }

    // The token's text, or nullptr for an id the tokenizer does not have.
    const std::string* token_text(int64_t id) const {
        if (const auto it = added_by_id.find(id); it != added_by_id.end()) return &added[it->second].content;
        return model->token_of(id);
    }

    std::string decode_tokens(std::vector<std::string> tokens, DecodeMode mode) const {
        std::string out;
        if (!decoder) {
            for (std::size_t k = 0; k < tokens.size(); ++k) {
                if (k) out += ' ';
                out += tokens[k];
            }
            return out;
        }
        decoder->apply(tokens, mode);
        for (const std::string& t : tokens)
            out += t;
        return out;
    }
};

namespace {

const json* optional_field(const json& j, const char* key) {
    const auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

bool bool_field(const json& j, const char* key, bool fallback, const std::string& where) {
    const json* v = optional_field(j, key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw CheckpointError(where + ": `" + key + "` must be true or false, got " + v->dump());
    return v->get<bool>();
}

TokenIds read_vocab(const json& vocab, const std::string& where) {
    if (!vocab.is_object()) throw CheckpointError(where + ": must be an object of token: id");
    TokenIds ids;
    ids.reserve(vocab.size());
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer()) {
            throw CheckpointError(where + ": token `" + token + "` has id " + id.dump() + ", not an integer");
        }
        if (token.empty()) throw CheckpointError(where + ": has an empty token");
        ids.emplace(token, id.get<int64_t>());
    }
    return ids;
}

// "a b" or ["a", "b"].
std::pair<std::string, std::string> read_merge(const json& merge, const std::string& where) {
    if (merge.is_string()) {
        const std::string text = merge.get<std::string>();
        const std::size_t space = text.find(' ');
        if (space != std::string::npos && space > 0 && space + 1 < text.size() &&
            text.find(' ', space + 1) == std::string::npos) {
            return {text.substr(0, space), text.substr(space + 1)};
        }
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        return {merge[0].get<std::string>(), merge[1].get<std::string>()};
    }
    throw CheckpointError(where + ": must be \"left right\" or [\"left\", \"right\"], got " + merge.dump());
}

AddedToken read_added_token(const json& j, const std::string& where) {
    if (!j.is_object()) throw CheckpointError(where + ": must be an object");
    const json* id = optional_field(j, "id");
    const json* content = optional_field(j, "content");
    if (!id || !id->is_number_integer() || id->get<int64_t>() < 0) {
        throw CheckpointError(where + ": `id` must be a non-negative integer");
    }
    if (!content || !content->is_string() || content->get<std::string>().empty()) {
        throw CheckpointError(where + ": `content` must be a non-empty string");
    }
    AddedToken t;
    t.id = id->get<int64_t>();
    t.content = content->get<std::string>();
    t.special = bool_field(j, "special", false, where);
    t.normalized = bool_field(j, "normalized", !t.special, where);
    t.single_word = bool_field(j, "single_word", false, where);
    t.lstrip = bool_field(j, "lstrip", false, where);
    t.rstrip = bool_field(j, "rstrip", false, where);
    return t;
}

BpeModel read_bpe_model(const json& model, const std::string& where) {
    if (!model.is_object()) throw CheckpointError(where + ": must be an object");
    const json* type = optional_field(model, "type");
    if (type && (!type->is_string() || type->get<std::string>() != "BPE")) {
        throw CheckpointError(where + ": model type " + type->dump() +
                              " is not supported: HookScope reads BPE tokenizers (GPT-2, Llama, Qwen2, "
                              "Mistral, Pythia style), not WordPiece, WordLevel or Unigram");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json* v = optional_field(model, key);
        if (v && (!v->is_string() || !v->get<std::string>().empty())) {
            throw CheckpointError(where + ": `" + key + "` " + v->dump() + " is not supported");
        }
    }
    const json* vocab = optional_field(model, "vocab");
    if (!vocab) throw CheckpointError(where + ": has no `vocab`");
    const json* merges = optional_field(model, "merges");
    if (merges && !merges->is_array()) throw CheckpointError(where + ".merges: must be a list");
    std::vector<std::pair<std::string, std::string>> merge_list;
    if (merges) {
        merge_list.reserve(merges->size());
        for (std::size_t k = 0; k < merges->size(); ++k)
            merge_list.push_back(read_merge((*merges)[k], where + ".merges[" + std::to_string(k) + "]"));
    }
    BpeOptions options;
    if (const json* unk = optional_field(model, "unk_token")) {
        if (!unk->is_string()) throw CheckpointError(where + ": `unk_token` must be a string");
        options.unk_token = unk->get<std::string>();
    }
    options.fuse_unk = bool_field(model, "fuse_unk", false, where);
    options.byte_fallback = bool_field(model, "byte_fallback", false, where);
    options.ignore_merges = bool_field(model, "ignore_merges", false, where);
    // `dropout` randomizes merges while training a model; encoding here is always exact.
    return BpeModel(read_vocab(*vocab, where + ".vocab"), merge_list, std::move(options), where);
}

// A token named in tokenizer_config.json or special_tokens_map.json: "<s>" or
// {"content": "<s>", ...}.
std::optional<std::string> token_content(const json* value) {
    if (!value) return std::nullopt;
    if (value->is_string()) return value->get<std::string>();
    if (value->is_object()) {
        if (const json* content = optional_field(*value, "content"); content && content->is_string()) {
            return content->get<std::string>();
        }
    }
    return std::nullopt;
}

} // namespace

bool Tokenizer::present_in(const fs::path& folder) {
    std::error_code ec;
    return fs::exists(folder / "tokenizer.json", ec) ||
           (fs::exists(folder / "vocab.json", ec) && fs::exists(folder / "merges.txt", ec));
}

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& origin) {
    const json j = parse_json_text(json_text, origin);
    if (!j.is_object()) throw CheckpointError(origin + ": must be a JSON object");
    auto impl = std::make_shared<Impl>();
    impl->origin = origin;
    const json* model = optional_field(j, "model");
    if (!model) throw CheckpointError(origin + ": has no `model`");
    impl->model.emplace(read_bpe_model(*model, origin + ": model"));
    if (const json* added = optional_field(j, "added_tokens")) {
        if (!added->is_array()) throw CheckpointError(origin + ": `added_tokens` must be a list");
        for (std::size_t k = 0; k < added->size(); ++k)
            impl->added.push_back(read_added_token((*added)[k], origin + ": added_tokens[" + std::to_string(k) + "]"));
    }
    if (const json* n = optional_field(j, "normalizer"))
        impl->normalizer = make_normalizer(*n, origin + ": normalizer");
    if (const json* p = optional_field(j, "pre_tokenizer")) {
        impl->pre_tokenizer = make_pre_tokenizer(*p, origin + ": pre_tokenizer");
    }
    if (const json* d = optional_field(j, "decoder")) impl->decoder = make_decoder(*d, origin + ": decoder");
    impl->index_added_tokens();
    return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::load(const fs::path& folder) {
    std::error_code ec;
    const fs::path tokenizer_json = folder / "tokenizer.json";
    if (fs::exists(tokenizer_json, ec)) return from_json(read_text_file(tokenizer_json), tokenizer_json.string());

    const fs::path vocab_file = folder / "vocab.json", merges_file = folder / "merges.txt";
    if (!fs::exists(vocab_file, ec) || !fs::exists(merges_file, ec)) {
        throw CheckpointError(folder.string() +
                              ": no tokenizer (expected tokenizer.json, or vocab.json and merges.txt); "
                              "give token ids instead of text");
    }
    // GPT-2's original files: byte-level BPE with GPT-2's split pattern.
    auto impl = std::make_shared<Impl>();
    impl->origin = vocab_file.string();
    TokenIds vocab = read_vocab(read_json_file(vocab_file), vocab_file.string());
    std::vector<std::pair<std::string, std::string>> merges;
    const std::string text = read_text_file(merges_file);
    std::size_t line_start = 0, line_number = 0;
    while (line_start < text.size()) {
        std::size_t line_end = text.find('\n', line_start);
        if (line_end == std::string::npos) line_end = text.size();
        std::string line = text.substr(line_start, line_end - line_start);
        ++line_number;
        line_start = line_end + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || (line_number == 1 && line.rfind("#version", 0) == 0)) continue;
        merges.push_back(read_merge(line, merges_file.string() + " line " + std::to_string(line_number)));
    }
    const auto config = read_json_file_if_present(folder / "tokenizer_config.json");
    const bool add_prefix_space = config && config->is_object() && bool_field(*config, "add_prefix_space", false, "");
    impl->pre_tokenizer = make_byte_level_pre_tokenizer(add_prefix_space);
    impl->decoder = make_byte_level_decoder();

    // Special tokens of the slow tokenizer: <|endoftext|>, the ones the config files
    // name, and added_tokens.json.
    std::vector<std::string> special{"<|endoftext|>"};
    for (const auto* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
        const auto j = name == std::string("tokenizer_config.json") ? config : read_json_file_if_present(folder / name);
        if (!j || !j->is_object()) continue;
        for (const char* key :
             {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"}) {
            if (auto content = token_content(optional_field(*j, key))) special.push_back(*content);
        }
        if (const json* more = optional_field(*j, "additional_special_tokens"); more && more->is_array()) {
            for (const json& token : *more) {
                if (auto content = token_content(&token)) special.push_back(*content);
            }
        }
    }
    std::vector<AddedToken> added;
    for (const std::string& content : special) {
        const auto it = vocab.find(content);
        if (it == vocab.end() || content.empty()) continue;
        bool seen = false;
        for (const AddedToken& t : added)
            seen = seen || t.content == content;
        if (!seen) added.push_back(plain_added_token(content, it->second, true));
    }
    if (const auto extra = read_json_file_if_present(folder / "added_tokens.json"); extra && extra->is_object()) {
        for (const auto& [content, id] : extra->items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || content.empty()) {
                throw CheckpointError((folder / "added_tokens.json").string() + ": entry `" + content +
                                      "` must map to a non-negative id");
            }
            added.push_back(plain_added_token(content, id.get<int64_t>(), false));
        }
    }
    impl->model.emplace(std::move(vocab), merges, BpeOptions{}, vocab_file.string());
    impl->added = std::move(added);
    impl->index_added_tokens();
    return Tokenizer(std::move(impl));
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
    if (const auto bad = unicode::invalid_utf8_offset(text)) {
        throw InputError("text is not valid UTF-8 (byte " + std::to_string(*bad) + " of " +
                         std::to_string(text.size()) + ")");
    }
    std::vector<int64_t> ids;
    ids.reserve(text.size() / 3 + 1);
    std::vector<Piece> pieces;
    // Hugging Face's order: tokens matched in the raw text first; each stretch between
    // them is normalized once, then split at the tokens matched in normalized text.
    for (const Segment& raw : impl_->segments(text, impl_->raw_tokens, 0)) {
        if (raw.id) {
            ids.push_back(*raw.id);
            continue;
        }
        std::string normalized(raw.text);
        if (impl_->normalizer) normalized = impl_->normalizer->apply(std::move(normalized));
        for (const Segment& segment : impl_->segments(normalized, impl_->normalized_tokens, raw.offset)) {
            if (segment.id) {
                ids.push_back(*segment.id);
                continue;
            }
            pieces.clear();
            pieces.push_back({std::string(segment.text), segment.offset == 0});
            if (impl_->pre_tokenizer) impl_->pre_tokenizer->apply(pieces);
            for (const Piece& piece : pieces)
                impl_->encode_piece(piece.text, ids);
        }
    }
    return ids;
}

std::string Tokenizer::decode(std::span<const int64_t> ids) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const int64_t id : ids) {
        // An id the tokenizer lacks (a model's padded vocabulary) is skipped, as Hugging Face does.
        if (const std::string* text = impl_->token_text(id)) tokens.push_back(*text);
    }
    return unicode::lossy_utf8(impl_->decode_tokens(std::move(tokens), DecodeMode::Text));
}

std::string Tokenizer::token_bytes(int64_t id) const {
    const std::string* text = impl_->token_text(id);
    return text ? impl_->decode_tokens({*text}, DecodeMode::Display) : std::string();
}

std::string Tokenizer::display(int64_t id) const {
    if (!impl_->token_text(id)) {
        std::string text = "[";
        text += std::to_string(id);
        text += ']';
        return text;
    }
    return visible_text(token_bytes(id));
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
    if (const auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) return it->second;
    return impl_->model->id_of(token);
}

std::optional<std::string> Tokenizer::id_to_token(int64_t id) const {
    if (const auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end()) {
        return impl_->added[it->second].content;
    }
    if (const std::string* token = impl_->model->token_of(id)) return *token;
    return std::nullopt;
}

int64_t Tokenizer::vocab_size() const {
    return impl_->vocab_size;
}

bool Tokenizer::is_special(int64_t id) const {
    const auto it = impl_->added_by_id.find(id);
    return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

const std::string& Tokenizer::origin() const {
    return impl_->origin;
}

std::string visible_text(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    std::size_t i = 0;
    while (i < bytes.size()) {
        const auto byte = static_cast<unsigned char>(bytes[i]);
        const std::size_t n = unicode::valid_sequence_length(bytes.substr(i));
        // C0, DEL and C1 controls are invisible: show their bytes.
        const bool control = (n == 1 && (byte < 0x20 || byte == 0x7F)) ||
                             (n == 2 && byte == 0xC2 && static_cast<unsigned char>(bytes[i + 1]) < 0xA0);
        if (byte == ' ') {
            out += "\u2423";
        } else if (byte == '\n') {
            out += "\\n";
        } else if (byte == '\t') {
            out += "\\t";
        } else if (byte == '\r') {
            out += "\\r";
        } else if (n == 0 || control) {
            for (std::size_t k = 0; k < std::max<std::size_t>(n, 1); ++k) {
                const auto b = static_cast<unsigned char>(bytes[i + k]);
                out += "<0x";
                out += kHex[b >> 4];
                out += kHex[b & 15];
                out += '>';
            }
        } else {
            out.append(bytes.substr(i, n));
        }
        i += std::max<std::size_t>(n, 1);
    }
    return out;
}

} // namespace hookscope
