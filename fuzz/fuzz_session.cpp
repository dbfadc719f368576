// libFuzzer target: reading a saved session (or any export) as the window opens it:
// the safetensors header, then the session's metadata and tensor layout. Every input
// is refused with CheckpointError or SessionError, or yields a layout that keeps its
// promises: one string per token, a prompt length inside the tokens.

#include "bridge/core/errors.h"
#include "bridge/formats/safetensors_header.h"
#include "bridge/formats/session_layout.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    try {
        const SafetensorsHeader header =
            parse_safetensors_header(reinterpret_cast<const std::byte*>(data), size, "fuzz");
        const SessionLayout s = check_session_layout(header.tensors, header.metadata, "fuzz");
        if (s.token_strings.size() != s.tokens.size()) std::abort();
        if (s.prompt_length < 0 || s.prompt_length > static_cast<int64_t>(s.tokens.size())) std::abort();
    } catch (const CheckpointError&) {
    } catch (const SessionError&) {
    }
    return 0;
}
