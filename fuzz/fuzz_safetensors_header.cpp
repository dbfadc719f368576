// libFuzzer target: the safetensors header parser on arbitrary file contents. Every
// input is either refused with a CheckpointError or yields tensors whose byte ranges
// lie inside the data buffer, match their shapes and do not overlap.

#include "bridge/core/errors.h"
#include "bridge/formats/safetensors_header.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    try {
        const SafetensorsHeader header =
            parse_safetensors_header(reinterpret_cast<const std::byte*>(data), size, "fuzz");
        const uint64_t data_size = size - 8 - header.length;
        uint64_t reach = 0;
        for (const TensorInfo& t : header.tensors) {
            uint64_t elements = 1;
            for (const int64_t d : t.shape)
                elements *= static_cast<uint64_t>(d);
            if (t.begin > t.end || t.end > data_size) std::abort();
            if (t.end - t.begin != elements * dtype_size(t.dtype)) std::abort();
            if (t.end > t.begin && t.begin < reach) std::abort(); // overlap (sorted by begin)
            if (t.end > reach) reach = t.end;
        }
    } catch (const CheckpointError&) {
    }
    return 0;
}
