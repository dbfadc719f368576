#include "bridge/core/hook_point.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace hookscope {
namespace {

// Text of each site after `blocks.{i}.` (block sites) or alone (global sites).
constexpr std::array<std::string_view, kSiteCount> kSiteNames{
    "hook_embed",          "hook_pos_embed",   "hook_resid_pre",        "ln1.hook_scale",
    "ln1.hook_normalized", "attn.hook_q",      "attn.hook_k",           "attn.hook_v",
    "attn.hook_rot_q",     "attn.hook_rot_k",  "attn.hook_attn_scores", "attn.hook_pattern",
    "attn.hook_z",         "hook_attn_out",    "hook_resid_mid",        "ln2.hook_scale",
    "ln2.hook_normalized", "mlp.hook_pre",     "mlp.hook_pre_linear",   "mlp.hook_post",
    "hook_mlp_out",        "hook_resid_post",  "ln_final.hook_scale",   "ln_final.hook_normalized",
    "unembed.hook_in",     "unembed.hook_out",
};

constexpr std::string_view kBlockPrefix = "blocks.";

} // namespace

bool is_block_site(Site site) {
    return site >= Site::ResidPre && site <= Site::ResidPost;
}

std::string HookPoint::to_string() const {
    const std::string_view site_name = kSiteNames[static_cast<std::size_t>(site)];
    if (!is_block_site(site)) return std::string(site_name);
    return std::string(kBlockPrefix) + std::to_string(layer) + "." + std::string(site_name);
}

bool is_attention_matrix(std::string_view name) {
    const auto point = HookPoint::parse(name);
    return point && (point->site == Site::AttnPattern || point->site == Site::AttnScores);
}

std::optional<HookPoint> HookPoint::parse(std::string_view name) {
    int layer = -1;
    std::string_view rest = name;
    if (rest.starts_with(kBlockPrefix)) {
        rest.remove_prefix(kBlockPrefix.size());
        const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), layer);
        const std::size_t digits = static_cast<std::size_t>(end - rest.data());
        // Canonical decimal only: "blocks.01." would not round-trip.
        if (error != std::errc() || layer < 0 || digits == 0 || (digits > 1 && rest[0] == '0') ||
            digits >= rest.size() || rest[digits] != '.') {
            return std::nullopt;
        }
        rest.remove_prefix(digits + 1);
    }
    for (int i = 0; i < kSiteCount; ++i) {
        const auto site = static_cast<Site>(i);
        if (kSiteNames[static_cast<std::size_t>(i)] == rest && is_block_site(site) == (layer >= 0)) {
            return HookPoint{site, layer};
        }
    }
    return std::nullopt;
}

std::vector<HookInfo> hook_points_for(const ModelConfig& c) {
    using K = Dim::Kind;
    const Dim batch{K::Fixed, 1};
    const Dim pos{K::Positions, 0};
    const Dim d{K::Fixed, c.d_model};
    const Dim one{K::Fixed, 1};
    const Dim heads{K::Heads, c.n_heads};
    const Dim kv_heads{K::KvHeads, c.n_kv_heads};
    const Dim d_head{K::Fixed, c.d_head};
    const Dim mlp{K::Fixed, c.d_mlp};
    const Dim vocab{K::Fixed, c.d_vocab};

    std::vector<HookInfo> out;
    const auto add = [&](HookPoint p, std::vector<Dim> shape) { out.push_back({p, p.to_string(), std::move(shape)}); };
    const std::vector<Dim> resid{batch, pos, d};
    const std::vector<Dim> scale{batch, pos, one};

    add(HookPoint::global(Site::Embed), resid);
    if (c.has_pos_embed) add(HookPoint::global(Site::PosEmbed), resid);
    for (int i = 0; i < c.n_layers; ++i) {
        const auto at = [i](Site s) { return HookPoint::block(s, i); };
        add(at(Site::ResidPre), resid);
        add(at(Site::Ln1Scale), scale);
        add(at(Site::Ln1Normalized), resid);
        add(at(Site::AttnQ), {batch, pos, heads, d_head});
        add(at(Site::AttnK), {batch, pos, kv_heads, d_head});
        add(at(Site::AttnV), {batch, pos, kv_heads, d_head});
        if (c.rotary) {
            add(at(Site::AttnRotQ), {batch, pos, heads, d_head});
            add(at(Site::AttnRotK), {batch, pos, kv_heads, d_head});
        }
        add(at(Site::AttnScores), {batch, heads, pos, pos});
        add(at(Site::AttnPattern), {batch, heads, pos, pos});
        add(at(Site::AttnZ), {batch, pos, heads, d_head});
        add(at(Site::AttnOut), resid);
        if (!c.parallel_blocks) add(at(Site::ResidMid), resid);
        add(at(Site::Ln2Scale), scale);
        add(at(Site::Ln2Normalized), resid);
        add(at(Site::MlpPre), {batch, pos, mlp});
        if (c.gated_mlp) add(at(Site::MlpPreLinear), {batch, pos, mlp});
        add(at(Site::MlpPost), {batch, pos, mlp});
        add(at(Site::MlpOut), resid);
        add(at(Site::ResidPost), resid);
    }
    add(HookPoint::global(Site::LnFinalScale), scale);
    add(HookPoint::global(Site::LnFinalNormalized), resid);
    add(HookPoint::global(Site::UnembedIn), resid);
    add(HookPoint::global(Site::UnembedOut), {batch, pos, vocab});
    return out;
}

const HookInfo* find_hook(const std::vector<HookInfo>& points, HookPoint point) {
    const auto found =
        std::find_if(points.begin(), points.end(), [&](const HookInfo& info) { return info.point == point; });
    return found == points.end() ? nullptr : &*found;
}

std::vector<int64_t> concrete_shape(const HookInfo& info, int64_t positions) {
    std::vector<int64_t> shape;
    shape.reserve(info.shape.size());
    for (const Dim& dim : info.shape)
        shape.push_back(dim.kind == Dim::Kind::Positions ? positions : dim.size);
    return shape;
}

} // namespace hookscope
