#include "trainer/training.h"

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace hookscope::train {

namespace {

std::vector<std::pair<std::string, std::vector<int64_t>>> gpt2_shapes(const ModelShape& s) {
    const int64_t d = s.d_model;
    std::vector<std::pair<std::string, std::vector<int64_t>>> out{{"transformer.wte.weight", {s.vocab, d}},
                                                                  {"transformer.wpe.weight", {s.context, d}}};
    for (int64_t i = 0; i < s.layers; ++i) {
        const std::string h = "transformer.h." + std::to_string(i) + ".";
        out.push_back({h + "ln_1.weight", {d}});
        out.push_back({h + "ln_1.bias", {d}});
        out.push_back({h + "attn.c_attn.weight", {d, 3 * d}});
        out.push_back({h + "attn.c_attn.bias", {3 * d}});
        out.push_back({h + "attn.c_proj.weight", {d, d}});
        out.push_back({h + "attn.c_proj.bias", {d}});
        out.push_back({h + "ln_2.weight", {d}});
        out.push_back({h + "ln_2.bias", {d}});
        out.push_back({h + "mlp.c_fc.weight", {d, 4 * d}});
        out.push_back({h + "mlp.c_fc.bias", {4 * d}});
        out.push_back({h + "mlp.c_proj.weight", {4 * d, d}});
        out.push_back({h + "mlp.c_proj.bias", {d}});
    }
    out.push_back({"transformer.ln_f.weight", {d}});
    out.push_back({"transformer.ln_f.bias", {d}});
    return out;
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::string gpt2_config_json(const ModelShape& s) {
    const nlohmann::ordered_json config = {{"activation_function", "gelu_new"},
                                           {"architectures", {"GPT2LMHeadModel"}},
                                           {"attn_pdrop", 0.0},
                                           {"bos_token_id", s.bos},
                                           {"embd_pdrop", 0.0},
                                           {"eos_token_id", s.eos},
                                           {"initializer_range", 0.02},
                                           {"layer_norm_epsilon", 1e-5},
                                           {"model_type", "gpt2"},
                                           {"n_ctx", s.context},
                                           {"n_embd", s.d_model},
                                           {"n_head", s.heads},
                                           {"n_inner", nullptr},
                                           {"n_layer", s.layers},
                                           {"n_positions", s.context},
                                           {"reorder_and_upcast_attn", false},
                                           {"resid_pdrop", 0.0},
                                           {"scale_attn_by_inverse_layer_idx", false},
                                           {"scale_attn_weights", true},
                                           {"summary_activation", nullptr},
                                           {"summary_first_dropout", 0.0},
                                           {"summary_proj_to_labels", true},
                                           {"summary_type", "cls_index"},
                                           {"summary_use_proj", true},
                                           {"tie_word_embeddings", true},
                                           {"torch_dtype", "float32"},
                                           {"transformers_version", "4.40.2"},
                                           {"use_cache", true},
                                           {"vocab_size", s.vocab}};
    return config.dump(2) + "\n";
}

at::Tensor sinusoidal_positions(int64_t positions, int64_t d, double rms) {
    at::Tensor pe = at::zeros({positions, d});
    auto out = pe.accessor<float, 2>();
    for (int64_t p = 0; p < positions; ++p) {
        for (int64_t k = 0; 2 * k < d; ++k) {
            const double angle =
                static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(k) / static_cast<double>(d));
            out[p][2 * k] = static_cast<float>(std::sqrt(2.0) * rms * std::sin(angle));
            if (2 * k + 1 < d) out[p][2 * k + 1] = static_cast<float>(std::sqrt(2.0) * rms * std::cos(angle));
        }
    }
    return pe;
}

NamedTensors init_gpt2(const ModelShape& s, uint64_t seed, bool sinusoidal) {
    at::Generator generator = at::detail::createCPUGenerator(seed);
    const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(s.layers));
    NamedTensors out;
    for (const auto& [name, shape] : gpt2_shapes(s)) {
        at::Tensor t;
        if (shape.size() == 1) {
            t = ends_with(name, ".weight") ? at::ones(shape) : at::zeros(shape); // LayerNorm gains, biases
        } else {
            const double std = ends_with(name, "c_proj.weight") ? residual_std : 0.02;
            t = at::normal(0.0, std, shape, generator); // drawn even when replaced: the others stay the same
            if (sinusoidal && ends_with(name, "wpe.weight")) t = sinusoidal_positions(shape[0], shape[1], 0.02);
        }
        out.emplace_back(name, t.set_requires_grad(true));
    }
    return out;
}

double learning_rate(int64_t step, int64_t total, int64_t warmup, double peak, double floor) {
    if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
    if (step >= total) return floor;
    const double progress =
        static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

void adamw_step(at::Tensor& param, const at::Tensor& grad, AdamWState& state, int64_t step, double lr,
                const AdamWSettings& s) {
    at::NoGradGuard no_grad;
    if (!state.m.defined()) {
        state.m = at::zeros_like(param);
        state.v = at::zeros_like(param);
    }
    state.m.mul_(s.beta1).add_(grad, 1 - s.beta1);
    state.v.mul_(s.beta2).addcmul_(grad, grad, 1 - s.beta2);
    const double m_scale = 1.0 / (1.0 - std::pow(s.beta1, static_cast<double>(step)));
    const double v_scale = 1.0 / (1.0 - std::pow(s.beta2, static_cast<double>(step)));
    if (param.dim() >= 2 && s.weight_decay > 0) param.mul_(1.0 - lr * s.weight_decay);
    const at::Tensor denominator = (state.v * v_scale).sqrt_().add_(s.eps);
    param.addcdiv_(state.m, denominator, -lr * m_scale);
}

at::Tensor sample_batch(const std::vector<int64_t>& ids, int64_t batch, int64_t context, double repeat_share,
                        int64_t longest, int64_t vocab, at::Generator& generator) {
    const auto n = static_cast<int64_t>(ids.size());
    if (n < context + 2) throw InputError("the corpus has fewer tokens than one training window");
    at::Tensor out = at::empty({batch, context + 1}, at::kLong);
    const at::Tensor offsets = at::randint(0, n - context - 1, {batch}, generator, at::kLong);
    const at::Tensor coins = at::rand({batch}, generator, at::kDouble);
    for (int64_t b = 0; b < batch; ++b) {
        int64_t* row = out[b].data_ptr<int64_t>();
        if (coins[b].item<double>() < repeat_share) {
            // A segment of random length, repeated to fill the window: a fixed period
            // would let a head look back a fixed distance instead of learning induction.
            const int64_t most = std::clamp<int64_t>(longest, 2, std::max<int64_t>(2, (context + 1) / 2));
            const int64_t length =
                at::randint(std::min<int64_t>(8, most), most + 1, {1}, generator, at::kLong).item<int64_t>();
            const at::Tensor segment = at::randint(vocab / 10, vocab, {length}, generator, at::kLong);
            const int64_t* ids_of_segment = segment.data_ptr<int64_t>();
            for (int64_t i = 0; i <= context; ++i)
                row[i] = ids_of_segment[i % length];
        } else {
            const int64_t start = offsets[b].item<int64_t>();
            std::copy(ids.begin() + start, ids.begin() + start + context + 1, row);
        }
    }
    return out;
}

double repeat_share_at(int64_t step, double share, int64_t ramp) {
    if (step >= ramp) return share;
    return share + (1.0 - share) * (1.0 - static_cast<double>(step) / static_cast<double>(ramp));
}

at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets) {
    return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

void save_checkpoint(const std::filesystem::path& file, const Checkpoint& c, const ModelShape& shape) {
    NamedTensors tensors;
    for (std::size_t i = 0; i < c.params.size(); ++i) {
        tensors.emplace_back(c.params[i].first, c.params[i].second.detach());
        if (i < c.moments.size() && c.moments[i].m.defined()) {
            tensors.emplace_back("adamw.m." + c.params[i].first, c.moments[i].m);
            tensors.emplace_back("adamw.v." + c.params[i].first, c.moments[i].v);
        }
    }
    write_safetensors(file, tensors, {{"step", std::to_string(c.step)}, {"config", gpt2_config_json(shape)}});
}

Checkpoint load_checkpoint(const std::filesystem::path& file, const ModelShape& shape) {
    const auto f = SafetensorsFile::open(file);
    if (f->metadata().count("config") == 0 || f->metadata().at("config") != gpt2_config_json(shape)) {
        throw CheckpointError(file.string() + ": a checkpoint of another model shape");
    }
    Checkpoint c;
    c.step = std::stoll(f->metadata().at("step"));
    for (const auto& [name, shape_of] : gpt2_shapes(shape)) {
        at::Tensor p = f->tensor(name).clone();
        if (p.sizes() != at::IntArrayRef(shape_of))
            throw CheckpointError(file.string() + ": `" + name + "` has another shape");
        c.params.emplace_back(name, p.set_requires_grad(true));
        AdamWState state;
        if (f->find("adamw.m." + name)) {
            state.m = f->tensor("adamw.m." + name).clone();
            state.v = f->tensor("adamw.v." + name).clone();
        }
        c.moments.push_back(std::move(state));
    }
    return c;
}

void export_gpt2(const std::filesystem::path& folder, const NamedTensors& params, const ModelShape& shape) {
    std::filesystem::create_directories(folder);
    NamedTensors tensors;
    for (const auto& [name, t] : params)
        tensors.emplace_back(name, t.detach().contiguous());
    write_safetensors(folder / "model.safetensors", tensors, {{"format", "pt"}});
    write_text_atomically(folder / "config.json", gpt2_config_json(shape));
}

} // namespace hookscope::train
