#pragma once
// Hook points: where in the forward pass an activation is recorded. The text form
// is TransformerLens' (`blocks.3.attn.hook_pattern`), and round-trips.
//
// Shape vocabulary (batch is always 1 here): B batch, P positions, D d_model,
// H heads, Hkv key/value heads, Dh d_head, M d_mlp, V vocab.

#include "bridge/core/model_config.h"

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hookscope {

enum class Site {
    // before the blocks
    Embed,    // hook_embed                 [B,P,D]
    PosEmbed, // hook_pos_embed             [B,P,D]
    // per block
    ResidPre,      // blocks.i.hook_resid_pre          [B,P,D]
    Ln1Scale,      // blocks.i.ln1.hook_scale          [B,P,1]
    Ln1Normalized, // blocks.i.ln1.hook_normalized     [B,P,D]
    AttnQ,         // blocks.i.attn.hook_q             [B,P,H,Dh]
    AttnK,         // blocks.i.attn.hook_k             [B,P,Hkv,Dh]
    AttnV,         // blocks.i.attn.hook_v             [B,P,Hkv,Dh]
    AttnRotQ,      // blocks.i.attn.hook_rot_q         [B,P,H,Dh]
    AttnRotK,      // blocks.i.attn.hook_rot_k         [B,P,Hkv,Dh]
    AttnScores,    // blocks.i.attn.hook_attn_scores   [B,H,P,P]
    AttnPattern,   // blocks.i.attn.hook_pattern       [B,H,P,P]
    AttnZ,         // blocks.i.attn.hook_z             [B,P,H,Dh]
    AttnOut,       // blocks.i.hook_attn_out           [B,P,D]
    ResidMid,      // blocks.i.hook_resid_mid          [B,P,D]
    Ln2Scale,      // blocks.i.ln2.hook_scale          [B,P,1]
    Ln2Normalized, // blocks.i.ln2.hook_normalized     [B,P,D]
    MlpPre,        // blocks.i.mlp.hook_pre            [B,P,M]
    MlpPreLinear,  // blocks.i.mlp.hook_pre_linear     [B,P,M]
    MlpPost,       // blocks.i.mlp.hook_post           [B,P,M]
    MlpOut,        // blocks.i.hook_mlp_out            [B,P,D]
    ResidPost,     // blocks.i.hook_resid_post         [B,P,D]
    // after the blocks
    LnFinalScale,      // ln_final.hook_scale            [B,P,1]
    LnFinalNormalized, // ln_final.hook_normalized       [B,P,D]
    UnembedIn,         // unembed.hook_in                [B,P,D]
    UnembedOut,        // unembed.hook_out               [B,P,V]
};
inline constexpr int kSiteCount = static_cast<int>(Site::UnembedOut) + 1;

bool is_block_site(Site site);

struct HookPoint {
    Site site = Site::Embed;
    int layer = -1; // block index for block sites, -1 otherwise

    static HookPoint global(Site site) { return {site, -1}; }
    static HookPoint block(Site site, int layer) { return {site, layer}; }

    std::string to_string() const;
    // Parses a TransformerLens name; nullopt when it is not one.
    static std::optional<HookPoint> parse(std::string_view name);

    friend bool operator==(const HookPoint&, const HookPoint&) = default;
};

// Whether `name` is an attention pattern or score hook: [B, H, P, P], queries by keys.
bool is_attention_matrix(std::string_view name);

// One axis of a hook's shape: a fixed size, or the sequence axis (its length is
// the number of positions run).
struct Dim {
    enum class Kind { Fixed, Heads, KvHeads, Positions } kind = Kind::Fixed;
    int64_t size = 0; // for Fixed, Heads, KvHeads
};

struct HookInfo {
    HookPoint point;
    std::string name;
    std::vector<Dim> shape;
};

// Every hook point a model of this config fires, in execution order.
std::vector<HookInfo> hook_points_for(const ModelConfig& config);

// The entry of `points` for `point`, or null when there is none.
const HookInfo* find_hook(const std::vector<HookInfo>& points, HookPoint point);

// The concrete shape of `info` for a run over `positions` tokens.
std::vector<int64_t> concrete_shape(const HookInfo& info, int64_t positions);

} // namespace hookscope
