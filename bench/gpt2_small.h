#pragma once
// A GPT-2-small-shaped model (12 layers, d_model 768, 12 heads, vocab 50257, 124M
// parameters) with random weights built in memory: benchmarks need no checkpoint file.

#include "bridge/gpt2.h"
#include "bridge/weights.h"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace hookscope::bench {

inline ModelConfig gpt2_small_config() {
    return parse_model_config(R"({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768,
                                 "n_positions": 1024, "vocab_size": 50257})",
                              "GPT-2 small shape");
}

inline std::unique_ptr<Model> random_gpt2(const ModelConfig& c) {
    at::manual_seed(0);
    const int64_t d = c.d_model, m = c.d_mlp;
    NamedTensors w;
    const auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ones = false) {
        w.emplace_back(name, ones ? at::ones(shape) : at::randn(shape) * 0.02);
    };
    add("wte.weight", {c.d_vocab, d});
    add("wpe.weight", {c.n_ctx, d});
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string h = "h." + std::to_string(i) + ".";
        add(h + "ln_1.weight", {d}, true);
        add(h + "ln_1.bias", {d});
        add(h + "attn.c_attn.weight", {d, 3 * d});
        add(h + "attn.c_attn.bias", {3 * d});
        add(h + "attn.c_proj.weight", {d, d});
        add(h + "attn.c_proj.bias", {d});
        add(h + "ln_2.weight", {d}, true);
        add(h + "ln_2.bias", {d});
        add(h + "mlp.c_fc.weight", {d, m});
        add(h + "mlp.c_fc.bias", {m});
        add(h + "mlp.c_proj.weight", {m, d});
        add(h + "mlp.c_proj.bias", {d});
    }
    add("ln_f.weight", {d}, true);
    add("ln_f.bias", {d});
    return make_gpt2(c, InMemoryWeights(std::move(w), "random"), "in-memory GPT-2 small shape");
}

} // namespace hookscope::bench
