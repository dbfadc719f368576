#pragma once
// Models shaped like small public checkpoints, with random weights built in memory:
// benchmarks need no checkpoint file. GPT-2 small (124M), Pythia-160M, SmolLM-135M,
// and a Llama-3.2-1B-sized model (1.24B: 16 layers, d_model 2048, 32 query and 8
// key/value heads, MLP 8192, vocabulary 128256, tied embeddings, llama3 rope scaling).

#include "bridge/model/arch/gpt2.h"
#include "bridge/model/arch/gpt_neox.h"
#include "bridge/model/arch/llama.h"
#include "bridge/model/weights.h"

#include <ATen/ATen.h>
#include <chrono>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hookscope::bench {

inline const char* gpt2_small_json() {
    return R"({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768,
                                 "n_positions": 1024, "vocab_size": 50257})";
}

inline ModelConfig gpt2_small_config() {
    return parse_model_config(gpt2_small_json(), "GPT-2 small shape");
}

inline NamedTensors random_gpt2_weights(const ModelConfig& c) {
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
    return w;
}

// Random weights for `names_and_shapes`; norm gains (shape [d], name ending in
// "norm.weight" or "ln_*.weight") start at one.
inline NamedTensors random_weights(const std::vector<std::pair<std::string, std::vector<int64_t>>>& names_and_shapes) {
    at::manual_seed(0);
    NamedTensors w;
    for (const auto& [name, shape] : names_and_shapes) {
        const bool gain = shape.size() == 1 &&
                          (name.find("norm") != std::string::npos || name.find("ln_") != std::string::npos) &&
                          name.find("bias") == std::string::npos;
        w.emplace_back(name, gain ? at::ones(shape) : at::randn(shape) * 0.02);
    }
    return w;
}

inline const char* pythia_160m_json() {
    return R"({"model_type": "gpt_neox", "num_hidden_layers": 12, "num_attention_heads": 12,
                                 "hidden_size": 768, "intermediate_size": 3072, "vocab_size": 50304,
                                 "max_position_embeddings": 2048, "rotary_pct": 0.25, "use_parallel_residual": true,
                                 "tie_word_embeddings": false})";
}

inline ModelConfig pythia_160m_config() {
    return parse_model_config(pythia_160m_json(), "Pythia-160M shape");
}

inline NamedTensors random_neox_weights(const ModelConfig& c) {
    const int64_t d = c.d_model, m = c.d_mlp;
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes{{"gpt_neox.embed_in.weight", {c.d_vocab, d}}};
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string l = "gpt_neox.layers." + std::to_string(i) + ".";
        for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
            shapes.push_back({l + norm + ".weight", {d}});
            shapes.push_back({l + norm + ".bias", {d}});
        }
        shapes.push_back({l + "attention.query_key_value.weight", {3 * d, d}});
        shapes.push_back({l + "attention.query_key_value.bias", {3 * d}});
        shapes.push_back({l + "attention.dense.weight", {d, d}});
        shapes.push_back({l + "attention.dense.bias", {d}});
        shapes.push_back({l + "mlp.dense_h_to_4h.weight", {m, d}});
        shapes.push_back({l + "mlp.dense_h_to_4h.bias", {m}});
        shapes.push_back({l + "mlp.dense_4h_to_h.weight", {d, m}});
        shapes.push_back({l + "mlp.dense_4h_to_h.bias", {d}});
    }
    shapes.push_back({"gpt_neox.final_layer_norm.weight", {d}});
    shapes.push_back({"gpt_neox.final_layer_norm.bias", {d}});
    shapes.push_back({"embed_out.weight", {c.d_vocab, d}});
    return random_weights(shapes);
}

inline const char* smollm_135m_json() {
    return R"({"model_type": "llama", "num_hidden_layers": 30, "num_attention_heads": 9,
                                 "num_key_value_heads": 3, "hidden_size": 576, "intermediate_size": 1536,
                                 "vocab_size": 49152, "max_position_embeddings": 2048, "rope_theta": 10000,
                                 "tie_word_embeddings": true})";
}

inline ModelConfig smollm_135m_config() {
    return parse_model_config(smollm_135m_json(), "SmolLM-135M shape");
}

inline NamedTensors random_llama_weights(const ModelConfig& c) {
    const int64_t d = c.d_model, m = c.d_mlp, q = c.n_heads * c.d_head, kv = c.n_kv_heads * c.d_head;
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes{{"model.embed_tokens.weight", {c.d_vocab, d}}};
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string l = "model.layers." + std::to_string(i) + ".";
        shapes.push_back({l + "input_layernorm.weight", {d}});
        shapes.push_back({l + "post_attention_layernorm.weight", {d}});
        shapes.push_back({l + "self_attn.q_proj.weight", {q, d}});
        shapes.push_back({l + "self_attn.k_proj.weight", {kv, d}});
        shapes.push_back({l + "self_attn.v_proj.weight", {kv, d}});
        shapes.push_back({l + "self_attn.o_proj.weight", {d, q}});
        shapes.push_back({l + "mlp.gate_proj.weight", {m, d}});
        shapes.push_back({l + "mlp.up_proj.weight", {m, d}});
        shapes.push_back({l + "mlp.down_proj.weight", {d, m}});
    }
    shapes.push_back({"model.norm.weight", {d}});
    return random_weights(shapes);
}

inline const char* llama_1b_json() {
    return R"({"model_type": "llama", "num_hidden_layers": 16, "num_attention_heads": 32,
                                 "num_key_value_heads": 8, "hidden_size": 2048, "intermediate_size": 8192,
                                 "vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000,
                                 "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                                 "rms_norm_eps": 1e-5, "tie_word_embeddings": true})";
}

inline ModelConfig llama_1b_config() {
    return parse_model_config(llama_1b_json(), "Llama-3.2-1B shape");
}

struct BenchModel {
    std::string shape;
    ModelConfig config;
    std::unique_ptr<Model> model;
    double bytes_per_token = 0;    // weights one decoded token reads
    double product_parameters = 0; // elements of every matrix a position is multiplied by, the unembedding included
};

// The config and random weights of a shape: "gpt2-small", "pythia-160m", "smollm-135m"
// or "llama-1b"; throws std::invalid_argument for another.
struct RandomShape {
    std::string config_json; // config.json's text
    ModelConfig config;
    NamedTensors weights;
    std::unique_ptr<Model> (*make)(ModelConfig, const WeightSource&, std::filesystem::path) = nullptr;
};

inline RandomShape random_shape(const std::string& shape) {
    RandomShape r;
    if (shape == "gpt2-small") {
        r.config_json = gpt2_small_json();
        r.config = gpt2_small_config();
        r.weights = random_gpt2_weights(r.config);
        r.make = make_gpt2;
    } else if (shape == "pythia-160m") {
        r.config_json = pythia_160m_json();
        r.config = pythia_160m_config();
        r.weights = random_neox_weights(r.config);
        r.make = make_gpt_neox;
    } else if (shape == "smollm-135m" || shape == "llama-1b") {
        r.config_json = shape == "llama-1b" ? llama_1b_json() : smollm_135m_json();
        r.config = shape == "llama-1b" ? llama_1b_config() : smollm_135m_config();
        r.weights = random_llama_weights(r.config);
        r.make = make_llama;
    } else {
        throw std::invalid_argument("unknown shape `" + shape + "` (gpt2-small, pythia-160m, smollm-135m, llama-1b)");
    }
    return r;
}

// Fills in what a decoded token reads and what the products multiply, from the model
// and the element count of its vectors (norms, biases), which stay float32.
inline void measure_sizes(BenchModel& b, double vector_elements) {
    const ModelConfig& c = b.config;
    // Every parameter is read once per token, except the embedding table (one row; it is
    // read whole when it doubles as the unembedding) and GPT-2's position table (one row).
    double elements = static_cast<double>(b.model->parameter_count());
    if (!c.tie_word_embeddings) elements -= static_cast<double>((c.d_vocab - 1) * c.d_model);
    if (c.has_pos_embed) elements -= static_cast<double>((c.n_ctx - 1) * c.d_model);
    if (c.tie_word_embeddings) elements += c.d_model; // the embedding row, besides the unembedding
    const double matrix_bytes = b.model->precision() == Precision::BFloat16 ? 2 : 4;
    b.bytes_per_token = 4 * vector_elements + matrix_bytes * (elements - vector_elements);
    // The products: every matrix but the tables looked up by index (the embedding unless
    // it is also the unembedding, and GPT-2's positions).
    b.product_parameters = static_cast<double>(b.model->parameter_count()) - vector_elements;
    if (!c.tie_word_embeddings) b.product_parameters -= static_cast<double>(c.d_vocab * c.d_model);
    if (c.has_pos_embed) b.product_parameters -= static_cast<double>(c.n_ctx * c.d_model);
}

inline double vector_elements(const NamedTensors& weights) {
    double n = 0;
    for (const auto& [name, tensor] : weights)
        n += tensor.dim() < 2 ? static_cast<double>(tensor.numel()) : 0.0;
    return n;
}

// A shape with random weights built in memory, at `precision`.
inline BenchModel bench_model(const std::string& shape, Precision precision = Precision::Float32) {
    RandomShape r = random_shape(shape);
    BenchModel b;
    b.shape = shape;
    b.config = r.config;
    const double vectors = vector_elements(r.weights);
    InMemoryWeights source(std::move(r.weights), "random");
    source.set_precision(precision);
    b.model = r.make(b.config, source, "in-memory " + shape + " shape");
    measure_sizes(b, vectors);
    return b;
}

// The float32 GEMM rate in GFLOP/s, the bound the passes are measured against: one
// [512, 2048] x [2048, 8192] product (after one untimed, which pages its operands in).
inline double gemm_gflops() {
    static const at::Tensor a = at::randn({512, 2048}), b = at::randn({2048, 8192});
    static const bool warm = (at::mm(a, b), true);
    (void)warm;
    const auto start = std::chrono::steady_clock::now();
    (void)at::mm(a, b);
    return 2.0 * 512 * 2048 * 8192 / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
           1e9;
}

} // namespace hookscope::bench
