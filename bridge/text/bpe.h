#pragma once
// The byte-pair-encoding model of a Hugging Face tokenizer: a vocabulary, ranked merges,
// and what to do with characters the vocabulary lacks (byte fallback, unknown token).

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hookscope {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

struct BpeOptions {
    std::optional<std::string> unk_token;
    bool fuse_unk = false;      // consecutive unknown characters give one unknown token
    bool byte_fallback = false; // unknown characters become their UTF-8 bytes as <0xNN> tokens
    bool ignore_merges = false; // a piece that is itself in the vocabulary is taken whole
};

class BpeModel {
public:
    // Throws CheckpointError (prefixed with `where`) for a merge that names a token the
    // vocabulary lacks, or ids that are negative or absurdly large.
    BpeModel(TokenIds vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
             const std::string& where);

    // Appends the ids of one pre-tokenized piece (valid UTF-8).
    void encode(std::string_view piece, std::vector<int64_t>& ids) const;

    std::optional<int64_t> id_of(std::string_view token) const;
    // The token text of `id`, or nullptr when the vocabulary has no such id.
    const std::string* token_of(int64_t id) const;
    // One past the largest id.
    int64_t id_end() const { return static_cast<int64_t>(tokens_.size()); }
    std::size_t merge_count() const { return merges_.size(); }

private:
    struct Merge {
        int32_t rank;
        int32_t new_id;
    };
    static uint64_t pair_key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
    const Merge* find_merge(int32_t left, int32_t right) const;
    void initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const;
    void apply_merges(std::vector<int32_t>& symbols) const;

    TokenIds vocab_;
    std::vector<std::string> tokens_;     // by id; empty where no token has that id
    std::vector<int32_t> small_char_ids_; // code point < 0x800 -> id, -1 when absent
    std::array<int32_t, 256> byte_ids_{}; // byte -> id of <0xNN>, -1 when absent
    std::unordered_map<uint64_t, Merge> merges_;
    std::optional<int32_t> unk_id_;
    BpeOptions options_;
};

} // namespace hookscope
