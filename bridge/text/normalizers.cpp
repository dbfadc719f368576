#include "bridge/text/text_pipeline.h"

#include "bridge/text/tokenizer_json.h"

namespace hookscope {

using namespace tokenizer_json;

namespace {

class NormalizerSequence final : public Normalizer {
public:
    explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
    std::string apply(std::string text) const override {
        for (const auto& step : steps_)
            text = step->apply(std::move(text));
        return text;
    }

private:
    std::vector<std::unique_ptr<Normalizer>> steps_;
};

class Prepend final : public Normalizer {
public:
    explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
    std::string apply(std::string text) const override { return text.empty() ? text : prefix_ + text; }

private:
    std::string prefix_;
};

class Replace final : public Normalizer {
public:
    Replace(UnicodeRegex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
    std::string apply(std::string text) const override { return pattern_.replace_all(text, content_); }

private:
    UnicodeRegex pattern_;
    std::string content_;
};

class UnicodeForm final : public Normalizer {
public:
    explicit UnicodeForm(unicode::NormalForm form) : form_(form) {}
    std::string apply(std::string text) const override { return unicode::normalize(text, form_); }

private:
    unicode::NormalForm form_;
};

class Lowercase final : public Normalizer {
public:
    std::string apply(std::string text) const override { return unicode::to_lower(text); }
};

// Removes White_Space characters at either end.
class StripWhitespace final : public Normalizer {
public:
    StripWhitespace(bool left, bool right) : left_(left), right_(right) {}
    std::string apply(std::string text) const override {
        const std::string_view view(text);
        std::size_t first = text.size(), last_end = 0; // the non-space span
        std::size_t i = 0;
        while (i < view.size()) {
            const std::size_t n = std::max<std::size_t>(1, unicode::valid_sequence_length(view.substr(i)));
            if (!unicode::is_white_space(unicode::decode_at(view.substr(i), n))) {
                if (first == text.size()) first = i;
                last_end = i + n;
            }
            i += n;
        }
        if (first == text.size()) return left_ || right_ ? std::string() : text;
        const std::size_t begin = left_ ? first : 0;
        const std::size_t end = right_ ? last_end : text.size();
        return text.substr(begin, end - begin);
    }

private:
    bool left_, right_;
};

} // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
    const std::string type = type_of(j, where);
    const Fields f(j, where + " (" + type + ")");
    if (type == "Sequence")
        return std::make_unique<NormalizerSequence>(
            sequence_steps<Normalizer>(f, "normalizers", where, make_normalizer));
    if (type == "Prepend") return std::make_unique<Prepend>(f.string("prepend"));
    if (type == "Replace") return std::make_unique<Replace>(f.pattern("pattern"), f.string("content"));
    if (type == "NFC") return std::make_unique<UnicodeForm>(unicode::NormalForm::NFC);
    if (type == "NFD") return std::make_unique<UnicodeForm>(unicode::NormalForm::NFD);
    if (type == "NFKC") return std::make_unique<UnicodeForm>(unicode::NormalForm::NFKC);
    if (type == "NFKD") return std::make_unique<UnicodeForm>(unicode::NormalForm::NFKD);
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "Strip")
        return std::make_unique<StripWhitespace>(f.boolean("strip_left", true), f.boolean("strip_right", true));
    unsupported(where, type, "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip");
}

} // namespace hookscope
