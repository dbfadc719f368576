#include "bridge/core/model_config.h"

#include "bridge/core/errors.h"
#include "bridge/core/json_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <optional>

namespace hookscope {
namespace {

using nlohmann::json;

// Reads config.json values where JSON `null` or absence means "the default".
class ConfigReader {
public:
    ConfigReader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

    const json* value(const char* key) const {
        const auto it = j_.find(key);
        return (it == j_.end() || it->is_null()) ? nullptr : &*it;
    }

    // Sizes are bounded so that products like 4 * n_embd cannot overflow and a corrupt
    // config cannot make HookScope allocate for billions of layers.
    static constexpr int64_t kMaxSize = int64_t{1} << 24;

    std::optional<int64_t> optional_positive(const char* key, int64_t max = kMaxSize) const {
        const json* v = value(key);
        if (!v) return std::nullopt;
        if (!v->is_number_integer() || v->get<int64_t>() <= 0 || v->get<int64_t>() > max) {
            throw CheckpointError(where_ + ": `" + key + "` must be a positive integer up to " + std::to_string(max) +
                                  ", got " + v->dump());
        }
        return v->get<int64_t>();
    }

    int64_t positive(const char* key, std::optional<int64_t> fallback = std::nullopt, int64_t max = kMaxSize) const {
        if (auto v = optional_positive(key, max)) return *v;
        if (fallback) return *fallback;
        throw CheckpointError(where_ + ": `" + key + "` is missing");
    }

    double number(const char* key, double fallback) const {
        const json* v = value(key);
        if (!v) return fallback;
        if (!v->is_number() || v->get<double>() < 0) {
            throw CheckpointError(where_ + ": `" + key + "` must be a non-negative number, got " + v->dump());
        }
        return v->get<double>();
    }

    bool boolean(const char* key, bool fallback) const {
        const json* v = value(key);
        if (!v) return fallback;
        if (!v->is_boolean()) {
            throw CheckpointError(where_ + ": `" + key + "` must be true or false, got " + v->dump());
        }
        return v->get<bool>();
    }

    std::string string(const char* key, const std::string& fallback) const {
        const json* v = value(key);
        if (!v) return fallback;
        if (!v->is_string()) throw CheckpointError(where_ + ": `" + key + "` must be a string, got " + v->dump());
        return v->get<std::string>();
    }

    const std::string& where() const { return where_; }

private:
    const json& j_;
    std::string where_;
};

Activation parse_activation(const std::string& name, const std::string& where) {
    struct Row {
        const char* name;
        Activation activation;
    };
    static constexpr std::array<Row, 8> kRows{{
        {"gelu_new", Activation::GeluTanh},
        {"gelu_pytorch_tanh", Activation::GeluTanh},
        {"gelu_fast", Activation::GeluTanh},
        {"gelu", Activation::Gelu},
        {"relu", Activation::Relu},
        {"silu", Activation::Silu},
        {"swish", Activation::Silu},
        {"quick_gelu", Activation::QuickGelu},
    }};
    for (const auto& row : kRows) {
        if (name == row.name) return row.activation;
    }
    std::string supported;
    for (const auto& row : kRows)
        supported += std::string(supported.empty() ? "" : ", ") + row.name;
    throw CheckpointError(where + ": activation_function `" + name + "` is not supported (supported: " + supported +
                          ")");
}

ModelConfig parse_gpt2(const ConfigReader& r) {
    ModelConfig c;
    c.n_layers = r.positive("n_layer", std::nullopt, 4096);
    c.n_heads = r.positive("n_head", std::nullopt, 4096);
    c.n_kv_heads = c.n_heads;
    c.d_model = r.positive("n_embd");
    if (c.d_model % c.n_heads != 0) {
        throw CheckpointError(r.where() + ": n_embd " + std::to_string(c.d_model) + " is not a multiple of n_head " +
                              std::to_string(c.n_heads));
    }
    c.d_head = c.d_model / c.n_heads;
    c.d_mlp = r.positive("n_inner", 4 * c.d_model);
    c.n_ctx = r.positive("n_positions", r.optional_positive("n_ctx").value_or(1024));
    c.d_vocab = r.positive("vocab_size");
    c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
    c.activation_name = r.string("activation_function", "gelu_new");
    c.activation = parse_activation(c.activation_name, r.where());
    c.scale_attn_weights = r.boolean("scale_attn_weights", true);
    c.scale_attn_by_inverse_layer_idx = r.boolean("scale_attn_by_inverse_layer_idx", false);
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
    return c;
}

// rope_scaling: null, or an object whose `type` (or `rope_type`) says how positions or
// frequencies are stretched for longer contexts.
void parse_rope_scaling(const ConfigReader& r, ModelConfig& c) {
    const json* scaling = r.value("rope_scaling");
    if (!scaling) return;
    if (!scaling->is_object()) throw CheckpointError(r.where() + ": `rope_scaling` must be an object or null");
    const ConfigReader s(*scaling, r.where() + " rope_scaling");
    std::string type = s.string("rope_type", s.string("type", ""));
    if (type == "default" || type.empty()) return;
    if (type != "linear" && type != "llama3") {
        throw CheckpointError(r.where() + ": rope_scaling type `" + type +
                              "` is not supported (supported: linear, llama3)");
    }
    c.rope_scaling = type;
    c.rope_factor = s.number("factor", 1.0);
    if (c.rope_factor <= 0) throw CheckpointError(r.where() + ": rope_scaling `factor` must be positive");
    if (type == "llama3") {
        c.rope_low_freq_factor = s.number("low_freq_factor", 1.0);
        c.rope_high_freq_factor = s.number("high_freq_factor", 4.0);
        c.rope_original_context = s.positive("original_max_position_embeddings", 8192);
        if (c.rope_high_freq_factor <= c.rope_low_freq_factor) {
            throw CheckpointError(r.where() + ": rope_scaling needs high_freq_factor > low_freq_factor");
        }
    }
}

ModelConfig parse_gpt_neox(const ConfigReader& r) {
    ModelConfig c;
    c.n_layers = r.positive("num_hidden_layers", std::nullopt, 4096);
    c.n_heads = r.positive("num_attention_heads", std::nullopt, 4096);
    c.n_kv_heads = c.n_heads;
    c.d_model = r.positive("hidden_size");
    if (c.d_model % c.n_heads != 0) {
        throw CheckpointError(r.where() + ": hidden_size " + std::to_string(c.d_model) +
                              " is not a multiple of num_attention_heads " + std::to_string(c.n_heads));
    }
    c.d_head = c.d_model / c.n_heads;
    c.d_mlp = r.positive("intermediate_size", 4 * c.d_model);
    c.n_ctx = r.positive("max_position_embeddings", 2048);
    c.d_vocab = r.positive("vocab_size");
    c.norm_eps = r.number("layer_norm_eps", 1e-5);
    c.activation_name = r.string("hidden_act", "gelu");
    c.activation = parse_activation(c.activation_name, r.where());
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    c.has_pos_embed = false;
    c.parallel_blocks = r.boolean("use_parallel_residual", true);
    c.rotary = true;
    const double pct = r.number("rotary_pct", 0.25);
    if (pct > 1) throw CheckpointError(r.where() + ": `rotary_pct` must be at most 1");
    c.rotary_dims = static_cast<int64_t>(static_cast<double>(c.d_head) * pct);
    if (c.rotary_dims % 2 != 0) throw CheckpointError(r.where() + ": rotary dims must be even");
    c.rotary_base = r.number("rotary_emb_base", 10000.0);
    c.attention_bias = r.boolean("attention_bias", true);
    parse_rope_scaling(r, c);
    return c;
}

// Llama and the models that share its layout: Mistral, Qwen2 (q/k/v biases), SmolLM
// and TinyLlama (model_type llama).
ModelConfig parse_llama(const ConfigReader& r) {
    const std::string type = r.string("model_type", "llama");
    ModelConfig c;
    c.n_layers = r.positive("num_hidden_layers", std::nullopt, 4096);
    c.n_heads = r.positive("num_attention_heads", std::nullopt, 4096);
    c.n_kv_heads = r.positive("num_key_value_heads", c.n_heads, 4096);
    if (c.n_heads % c.n_kv_heads != 0) {
        throw CheckpointError(r.where() + ": num_attention_heads " + std::to_string(c.n_heads) +
                              " is not a multiple of num_key_value_heads " + std::to_string(c.n_kv_heads));
    }
    c.d_model = r.positive("hidden_size");
    if (!r.value("head_dim") && c.d_model % c.n_heads != 0) {
        throw CheckpointError(r.where() + ": hidden_size " + std::to_string(c.d_model) +
                              " is not a multiple of num_attention_heads " + std::to_string(c.n_heads));
    }
    c.d_head = r.positive("head_dim", c.d_model / c.n_heads);
    c.d_mlp = r.positive("intermediate_size");
    c.n_ctx = r.positive("max_position_embeddings", 2048);
    // Mistral's sliding window: positions beyond it attend differently, so the context
    // HookScope runs stops there.
    if (const auto window = r.optional_positive("sliding_window"); window && r.boolean("use_sliding_window", true)) {
        c.n_ctx = std::min(c.n_ctx, *window);
    }
    c.d_vocab = r.positive("vocab_size");
    c.norm_eps = r.number("rms_norm_eps", 1e-6);
    c.activation_name = r.string("hidden_act", "silu");
    c.activation = parse_activation(c.activation_name, r.where());
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    c.has_pos_embed = false;
    c.gated_mlp = true;
    c.rotary = true;
    c.rotary_dims = c.d_head;
    if (c.rotary_dims % 2 != 0) throw CheckpointError(r.where() + ": head_dim must be even for rotary embeddings");
    c.rotary_base = r.number("rope_theta", 10000.0);
    c.attention_bias = type == "qwen2" || r.boolean("attention_bias", false);
    parse_rope_scaling(r, c);
    return c;
}

// The config half of the architecture registry (the model factory's table in
// bridge/model/model.cpp is the other; a test keeps them listing the same types).
struct ConfigParser {
    std::string_view model_type;   // config.json's `model_type`
    std::string_view architecture; // the name people know it by
    ModelConfig (*parse)(const ConfigReader&);
};
constexpr ConfigParser kConfigParsers[] = {
    {"gpt2", "GPT-2", parse_gpt2},       {"gpt_neox", "GPT-NeoX", parse_gpt_neox}, {"llama", "Llama", parse_llama},
    {"mistral", "Mistral", parse_llama}, {"qwen2", "Qwen2", parse_llama},
};

} // namespace

std::vector<std::string_view> config_model_types() {
    std::vector<std::string_view> types;
    for (const ConfigParser& p : kConfigParsers)
        types.push_back(p.model_type);
    return types;
}

std::string supported_model_types() {
    std::string text;
    for (const ConfigParser& p : kConfigParsers)
        text += (text.empty() ? "" : ", ") + std::string(p.model_type);
    return text;
}

ModelConfig parse_model_config(std::string_view json_text, const std::string& where) {
    const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw CheckpointError(where + ": not valid JSON");
    if (!j.is_object()) throw CheckpointError(where + ": not a JSON object");
    const ConfigReader reader(j, where);
    const std::string type = reader.string("model_type", "");
    if (type.empty()) {
        throw CheckpointError(where + ": no `model_type` (supported: " + supported_model_types() + ")");
    }
    for (const ConfigParser& p : kConfigParsers) {
        if (type != p.model_type) continue;
        ModelConfig config = p.parse(reader);
        config.model_type = p.model_type;
        config.architecture = p.architecture;
        return config;
    }
    throw CheckpointError(where + ": model_type `" + type +
                          "` is not supported (supported: " + supported_model_types() + ")");
}

ModelConfig load_model_config(const std::filesystem::path& folder) {
    const std::filesystem::path file = folder / "config.json";
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        throw CheckpointError(file.string() + ": no such file (is " + folder.string() +
                              " a Hugging Face checkpoint folder?)");
    }
    return parse_model_config(read_text_file(file), file.string());
}

} // namespace hookscope
