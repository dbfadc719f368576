#pragma once
// A GPT-2 checkpoint folder (config.json, model.safetensors) with random weights drawn
// as GPT-2 initialises them, written by a test at run time, and a Llama's weights in
// memory: models of any depth and size without a fixture in the tree.

#include "bridge/core/model_config.h"
#include "bridge/model/safetensors.h"
#include "trainer/training.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hookscope::test {

// A GPT-2 shape whose last id is both BOS and EOS, as GPT-2's <|endoftext|> is.
inline train::ModelShape gpt2_shape(int64_t layers, int64_t heads, int64_t d_model, int64_t context, int64_t vocab) {
    return {.layers = layers,
            .heads = heads,
            .d_model = d_model,
            .context = context,
            .vocab = vocab,
            .bos = vocab - 1,
            .eos = vocab - 1};
}

inline std::filesystem::path write_random_gpt2(const std::filesystem::path& folder, const train::ModelShape& shape,
                                               uint64_t seed) {
    std::filesystem::create_directories(folder);
    std::ofstream(folder / "config.json") << train::gpt2_config_json(shape);
    NamedTensors tensors;
    for (auto& [name, value] : train::init_gpt2(shape, seed))
        tensors.emplace_back(name, value.detach());
    write_safetensors(folder / "model.safetensors", tensors);
    return folder;
}

// The weights of a Llama shaped as `c` says (no biases, an lm_head of its own), in the
// order a checkpoint lists them, each drawn from a standard normal times `scale`.
inline NamedTensors random_llama_weights(const ModelConfig& c, double scale) {
    NamedTensors w;
    const auto add = [&](const std::string& name, std::vector<int64_t> shape) {
        w.emplace_back(name, at::randn(shape) * scale);
    };
    const int64_t d = c.d_model, q = c.n_heads * c.d_head, kv = c.n_kv_heads * c.d_head;
    add("model.embed_tokens.weight", {c.d_vocab, d});
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string l = "model.layers." + std::to_string(i) + ".";
        add(l + "input_layernorm.weight", {d});
        add(l + "post_attention_layernorm.weight", {d});
        add(l + "self_attn.q_proj.weight", {q, d});
        add(l + "self_attn.k_proj.weight", {kv, d});
        add(l + "self_attn.v_proj.weight", {kv, d});
        add(l + "self_attn.o_proj.weight", {d, q});
        add(l + "mlp.gate_proj.weight", {c.d_mlp, d});
        add(l + "mlp.up_proj.weight", {c.d_mlp, d});
        add(l + "mlp.down_proj.weight", {d, c.d_mlp});
    }
    add("model.norm.weight", {d});
    add("lm_head.weight", {c.d_vocab, d});
    return w;
}

} // namespace hookscope::test
