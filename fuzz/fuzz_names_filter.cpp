// libFuzzer target: the names-filter parser on arbitrary text, then matching every
// hook name of a small GPT-2 against it. Parsing either succeeds or throws
// FilterError; matching never throws anything else and stays bounded (PCRE2's
// match limit turns runaway backtracking into a FilterError).

#include "bridge/core/errors.h"
#include "bridge/core/names_filter.h"

#include <string>
#include <string_view>
#include <vector>

namespace {

const std::vector<std::string>& hook_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out{"hook_embed", "hook_pos_embed", "ln_final.hook_scale", "ln_final.hook_normalized"};
        for (int layer = 0; layer < 2; ++layer) {
            const std::string b = "blocks." + std::to_string(layer) + ".";
            for (const char* site :
                 {"hook_resid_pre", "ln1.hook_scale", "attn.hook_q", "attn.hook_k", "attn.hook_v",
                  "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_mid",
                  "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"}) {
                out.push_back(b + site);
            }
        }
        return out;
    }();
    return names;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    try {
        const NamesFilter filter(std::string_view(reinterpret_cast<const char*>(data), size));
        for (const std::string& name : hook_names())
            (void)filter.matches(name);
    } catch (const FilterError&) {
    }
    return 0;
}
