#pragma once
// The architecture-independent description of a model, read from config.json.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hookscope {

enum class Activation { GeluTanh, Gelu, Relu, Silu, QuickGelu };

struct ModelConfig {
    std::string model_type;   // config.json's `model_type`, e.g. "gpt2"
    std::string architecture; // human name, e.g. "GPT-2"

    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0; // = n_heads without grouped-query attention
    int64_t d_model = 0;
    int64_t d_head = 0;
    int64_t d_mlp = 0;
    int64_t n_ctx = 0; // longest sequence the model accepts (positions)
    int64_t d_vocab = 0;
    double norm_eps = 1e-5;

    Activation activation = Activation::GeluTanh;
    std::string activation_name; // as written in config.json

    // GPT-2 attention scaling switches (Hugging Face semantics).
    bool scale_attn_weights = true;
    bool scale_attn_by_inverse_layer_idx = false;
    bool tie_word_embeddings = true;

    bool has_pos_embed = true;    // learned absolute positions
    bool parallel_blocks = false; // attention and MLP both read resid_pre
    bool gated_mlp = false;
    bool rotary = false;

    // Rotary position embedding (rotate-half convention) on the first `rotary_dims`
    // dims of each head, frequencies base^(-2i/rotary_dims).
    int64_t rotary_dims = 0;
    double rotary_base = 10000.0;
    std::string rope_scaling;                                       // "" (none), "linear" or "llama3"
    double rope_factor = 1.0;                                       // linear: positions are divided by it
    double rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0; // llama3
    int64_t rope_original_context = 8192;                           // llama3
    bool attention_bias = true;                                     // q/k/v (and output) projections have biases
};

// Parses config.json text. `where` names the file in error messages.
// Throws CheckpointError for an unsupported `model_type` or a bad value.
ModelConfig parse_model_config(std::string_view json_text, const std::string& where);

// Reads `<folder>/config.json`.
ModelConfig load_model_config(const std::filesystem::path& folder);

// The model types config.json may name, in the config parser's table.
std::vector<std::string_view> config_model_types();

// The same, comma separated, for messages.
std::string supported_model_types();

} // namespace hookscope
