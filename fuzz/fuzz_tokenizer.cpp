// libFuzzer target: tokenizer.json loading, and encoding arbitrary bytes. The first
// byte picks the case: encode the rest with one of the fixture tokenizers (every id
// must lie inside its vocabulary, and decoding the ids must not throw), or load the
// rest as a tokenizer.json and encode a fixed text with it. Malformed input is refused
// with CheckpointError (the file) or InputError (text that is not UTF-8).

#include "bridge/core/errors.h"
#include "bridge/text/tokenizer.h"

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

const std::vector<hookscope::Tokenizer>& fixtures() {
    static const std::vector<hookscope::Tokenizer> tokenizers = [] {
        std::vector<hookscope::Tokenizer> out;
        for (const char* style : {"llama2-metaspace", "llama2-style", "llama3-style", "qwen2-style", "smollm-style"}) {
            const std::string path = std::string(HOOKSCOPE_FIXTURES) + "/tokenizers/" + style + "/tokenizer.json";
            std::ostringstream text;
            text << std::ifstream(path).rdbuf();
            out.push_back(hookscope::Tokenizer::from_json(text.str(), path));
        }
        return out;
    }();
    return tokenizers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace hookscope;
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t choice = data[0] % (fixtures().size() + 1);
    try {
        if (choice < fixtures().size()) {
            const Tokenizer& tokenizer = fixtures()[choice];
            const std::vector<int64_t> ids = tokenizer.encode(rest);
            for (const int64_t id : ids) {
                if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
            }
            (void)tokenizer.decode(ids);
        } else {
            const Tokenizer tokenizer = Tokenizer::from_json(rest, "fuzz");
            (void)tokenizer.decode(tokenizer.encode("In the beginning God created the heaven and the earth. 123 éß 😀"));
        }
    } catch (const CheckpointError&) {
    } catch (const InputError&) {
    }
    return 0;
}
