// `tokenize`: the token ids a text becomes, with a legible form of each.

#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/handlers.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace hookscope::cli {

using nlohmann::json;

OptionSpec tokenize_options() {
    return spec({"--json", "--no-prepend-bos"}, {"--model", "--text"});
}

int tokenize_command(const Options& options) {
    apply_common(options);
    const auto text = options.value("--text");
    if (!text) throw UsageError("`tokenize` needs --text TEXT");
    const TextCodec codec = load_text_codec(model_folder(options));
    const std::vector<int64_t> ids =
        encode_text(codec.tokenizer, codec.special, *text, !options.flag("--no-prepend-bos"));
    std::vector<std::string> shown;
    for (const int64_t id : ids)
        shown.push_back(codec.tokenizer.display(id));
    if (options.flag("--json")) {
        std::cout << json{{"ids", ids}, {"tokens", shown}}.dump() << "\n";
        return kOk;
    }
    std::cout << "pos\tid\ttoken\n";
    for (std::size_t k = 0; k < ids.size(); ++k)
        std::cout << k << "\t" << ids[k] << "\t" << shown[k] << "\n";
    return kOk;
}

} // namespace hookscope::cli
