// libFuzzer target: config.json parsing on arbitrary text. Every input is either
// refused with a CheckpointError or yields a configuration whose sizes are positive
// and consistent (heads divide the model width unless head_dim is explicit).

#include "bridge/core/errors.h"
#include "bridge/core/model_config.h"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    try {
        const ModelConfig c = parse_model_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
        if (c.n_layers <= 0 || c.d_model <= 0 || c.n_heads <= 0 || c.d_head <= 0 || c.d_vocab <= 0 || c.n_ctx <= 0) {
            std::abort();
        }
        if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0) std::abort();
    } catch (const CheckpointError&) {
    }
    return 0;
}
