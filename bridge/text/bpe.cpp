#include "bridge/text/bpe.h"

#include "bridge/core/errors.h"
#include "bridge/text/unicode.h"

#include <queue>

namespace hookscope {
namespace {

// Vocabularies in use stay far below this; a larger id is a broken file, and
// would otherwise make us allocate for it.
constexpr int64_t kMaxTokenId = 1 << 24;
constexpr char32_t kSmallCharEnd = 0x800;

std::string byte_token(unsigned byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    return std::string("<0x") + kHex[byte >> 4] + kHex[byte & 15] + ">";
}

} // namespace

BpeModel::BpeModel(TokenIds vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const std::string& where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
    for (const auto& [token, id] : vocab_) {
        if (id < 0 || id >= kMaxTokenId) {
            throw CheckpointError(where + ": token `" + token + "` has id " + std::to_string(id) + ", outside 0.." +
                                  std::to_string(kMaxTokenId - 1));
        }
        if (id >= static_cast<int64_t>(tokens_.size())) tokens_.resize(static_cast<std::size_t>(id) + 1);
        tokens_[static_cast<std::size_t>(id)] = token;
    }
    small_char_ids_.assign(kSmallCharEnd, -1);
    for (const auto& [token, id] : vocab_) {
        const std::size_t length = unicode::valid_sequence_length(token);
        if (length == 0 || length != token.size()) continue;
        const char32_t cp = unicode::decode_at(token, length);
        if (cp < kSmallCharEnd) small_char_ids_[cp] = static_cast<int32_t>(id);
    }
    for (unsigned byte = 0; byte < 256; ++byte) {
        const auto it = vocab_.find(byte_token(byte));
        byte_ids_[byte] = it == vocab_.end() ? -1 : static_cast<int32_t>(it->second);
    }
    if (options_.unk_token) {
        const auto it = vocab_.find(*options_.unk_token);
        if (it != vocab_.end()) unk_id_ = static_cast<int32_t>(it->second);
    }
    merges_.reserve(merges.size());
    const auto lookup = [&](const std::string& token, std::size_t rank) {
        const auto it = vocab_.find(token);
        if (it == vocab_.end()) {
            throw CheckpointError(where + ": merge " + std::to_string(rank) + " names `" + token +
                                  "`, which is not in the vocabulary");
        }
        return static_cast<int32_t>(it->second);
    };
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [left, right] = merges[rank];
        const int32_t left_id = lookup(left, rank);
        const int32_t right_id = lookup(right, rank);
        const int32_t new_id = lookup(left + right, rank);
        // A pair listed twice keeps its last rank, as Hugging Face's loader does.
        merges_.insert_or_assign(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), new_id});
    }
}

std::optional<int64_t> BpeModel::id_of(std::string_view token) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

const std::string* BpeModel::token_of(int64_t id) const {
    if (id < 0 || id >= id_end()) return nullptr;
    const std::string& token = tokens_[static_cast<std::size_t>(id)];
    // The empty string is never a token, so it marks a hole in the id range.
    return token.empty() ? nullptr : &token;
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const {
    // Hugging Face holds an unknown token back until the next character the vocabulary
    // has (byte-fallback characters do not count), so fused unknowns can span them.
    bool pending_unk = false;
    std::size_t i = 0;
    while (i < piece.size()) {
        const std::size_t length = std::max<std::size_t>(1, unicode::valid_sequence_length(piece.substr(i)));
        const std::string_view ch = piece.substr(i, length);
        i += length;
        int32_t id = -1;
        const char32_t cp = unicode::decode_at(ch, length);
        if (cp < kSmallCharEnd) {
            id = small_char_ids_[cp];
        } else if (const auto it = vocab_.find(ch); it != vocab_.end()) {
            id = static_cast<int32_t>(it->second);
        }
        if (id >= 0) {
            if (pending_unk) symbols.push_back(*unk_id_);
            pending_unk = false;
            symbols.push_back(id);
            continue;
        }
        if (options_.byte_fallback) {
            bool all_bytes = true;
            for (const char b : ch)
                all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(b)] >= 0;
            if (all_bytes) {
                for (const char b : ch)
                    symbols.push_back(byte_ids_[static_cast<unsigned char>(b)]);
                continue;
            }
        }
        // Without an unknown token the character is dropped, as Hugging Face does.
        if (!options_.unk_token) continue;
        if (!unk_id_) {
            throw InputError("the text has `" + std::string(ch) +
                             "`, which the vocabulary lacks, and its unknown token `" + *options_.unk_token +
                             "` is not in the vocabulary either");
        }
        if (pending_unk && !options_.fuse_unk) symbols.push_back(*unk_id_);
        pending_unk = true;
    }
    if (pending_unk) symbols.push_back(*unk_id_);
}

// Merges the best-ranked adjacent pair first (leftmost on ties) until none is left,
// with a heap over candidate pairs and a linked list over symbols.
void BpeModel::apply_merges(std::vector<int32_t>& symbols) const {
    const int n = static_cast<int>(symbols.size());
    if (n < 2) return;
    std::vector<int> prev(static_cast<std::size_t>(n)), next(static_cast<std::size_t>(n));
    std::vector<bool> alive(static_cast<std::size_t>(n), true);
    for (int k = 0; k < n; ++k) {
        prev[k] = k - 1;
        next[k] = k + 1 < n ? k + 1 : -1;
    }
    struct Candidate {
        int32_t rank;
        int pos;
        int32_t new_id;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    for (int k = 0; k + 1 < n; ++k) {
        if (const Merge* m = find_merge(symbols[k], symbols[k + 1])) queue.push({m->rank, k, m->new_id});
    }
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        const int pos = top.pos;
        if (!alive[pos] || next[pos] < 0) continue;
        const int right = next[pos];
        // Skip candidates made stale by an earlier merge.
        const Merge* current = find_merge(symbols[pos], symbols[right]);
        if (!current || current->new_id != top.new_id) continue;
        symbols[pos] = top.new_id;
        alive[right] = false;
        next[pos] = next[right];
        if (next[pos] >= 0) prev[next[pos]] = pos;
        if (prev[pos] >= 0) {
            if (const Merge* m = find_merge(symbols[prev[pos]], symbols[pos])) {
                queue.push({m->rank, prev[pos], m->new_id});
            }
        }
        if (next[pos] >= 0) {
            if (const Merge* m = find_merge(symbols[pos], symbols[next[pos]])) queue.push({m->rank, pos, m->new_id});
        }
    }
    std::size_t out = 0;
    for (int k = 0; k >= 0; k = next[k])
        symbols[out++] = symbols[k];
    symbols.resize(out);
}

void BpeModel::encode(std::string_view piece, std::vector<int64_t>& ids) const {
    if (piece.empty()) return;
    if (options_.ignore_merges) {
        if (const auto it = vocab_.find(piece); it != vocab_.end()) {
            ids.push_back(it->second);
            return;
        }
    }
    std::vector<int32_t> symbols;
    symbols.reserve(piece.size());
    initial_symbols(piece, symbols);
    apply_merges(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
}

} // namespace hookscope
