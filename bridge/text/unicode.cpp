#include "bridge/text/unicode.h"

#include "bridge/core/errors.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <vector>

namespace hookscope::unicode {
namespace {

bool ascii_only(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::u16string to_utf16(std::string_view text) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = 0;
    u_strFromUTF8(nullptr, 0, &length, text.data(), static_cast<int32_t>(text.size()), &status);
    std::u16string out(static_cast<std::size_t>(length), u'\0');
    status = U_ZERO_ERROR;
    u_strFromUTF8(out.data(), length, &length, text.data(), static_cast<int32_t>(text.size()), &status);
    if (U_FAILURE(status)) throw InputError(std::string("text is not valid UTF-8: ") + u_errorName(status));
    return out;
}

std::string to_utf8(const std::u16string& text) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = 0;
    u_strToUTF8(nullptr, 0, &length, text.data(), static_cast<int32_t>(text.size()), &status);
    std::string out(static_cast<std::size_t>(length), '\0');
    status = U_ZERO_ERROR;
    u_strToUTF8(out.data(), length, &length, text.data(), static_cast<int32_t>(text.size()), &status);
    if (U_FAILURE(status)) throw InputError(std::string("cannot convert text to UTF-8: ") + u_errorName(status));
    return out;
}

} // namespace

namespace {

// What a lead byte promises: the sequence length and the allowed range of the second
// byte (Unicode's table of well-formed UTF-8). length 0: not a lead byte.
struct SequenceShape {
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
};

SequenceShape shape_of(unsigned char lead) {
    if (lead < 0x80) return {1};
    if (lead >= 0xC2 && lead <= 0xDF) return {2};
    if (lead == 0xE0) return {3, 0xA0, 0xBF}; // no overlong forms
    if (lead == 0xED) return {3, 0x80, 0x9F}; // no surrogates
    if (lead >= 0xE1 && lead <= 0xEF) return {3};
    if (lead == 0xF0) return {4, 0x90, 0xBF};
    if (lead == 0xF4) return {4, 0x80, 0x8F}; // nothing above U+10FFFF
    if (lead >= 0xF1 && lead <= 0xF3) return {4};
    return {};
}

// How many bytes from text[0] follow the lead byte's promise (at least 1).
std::size_t well_formed_prefix(std::string_view text, const SequenceShape& shape) {
    std::size_t n = 1;
    while (n < shape.length && n < text.size()) {
        const auto b = static_cast<unsigned char>(text[n]);
        const unsigned char low = n == 1 ? shape.low : 0x80;
        const unsigned char high = n == 1 ? shape.high : 0xBF;
        if (b < low || b > high) break;
        ++n;
    }
    return n;
}

// Runs an ICU string function (preflight style: it reports the length it needs when
// the buffer is too small) over UTF-8 text.
template <class F> std::string transform_utf16(std::string_view text, const char* what, F&& f) {
    const std::u16string source = to_utf16(text);
    std::u16string result(source.size() * 3 + 16, u'\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
        UErrorCode status = U_ZERO_ERROR;
        const int32_t length = f(source.data(), static_cast<int32_t>(source.size()), result.data(),
                                 static_cast<int32_t>(result.size()), &status);
        if (status == U_BUFFER_OVERFLOW_ERROR) {
            result.assign(static_cast<std::size_t>(length), u'\0');
            continue;
        }
        if (U_FAILURE(status)) throw Error(std::string(what) + " failed: " + u_errorName(status));
        result.resize(static_cast<std::size_t>(length));
        return to_utf8(result);
    }
    throw Error(std::string(what) + " failed: the output keeps growing");
}

} // namespace

std::size_t valid_sequence_length(std::string_view text) {
    if (text.empty()) return 0;
    const SequenceShape shape = shape_of(static_cast<unsigned char>(text[0]));
    if (shape.length == 0) return 0;
    return well_formed_prefix(text, shape) == shape.length ? shape.length : 0;
}

char32_t decode_at(std::string_view text, std::size_t length) {
    const auto byte = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
    switch (length) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default: return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
    }
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::optional<std::size_t> invalid_utf8_offset(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t length = valid_sequence_length(text.substr(i));
        if (length == 0) return i;
        i += length;
    }
    return std::nullopt;
}

std::string lossy_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    std::size_t i = 0;
    while (i < bytes.size()) {
        const std::size_t length = valid_sequence_length(bytes.substr(i));
        if (length > 0) {
            out.append(bytes.substr(i, length));
            i += length;
            continue;
        }
        // Replace one maximal subpart: the longest run that starts like a valid sequence.
        const SequenceShape shape = shape_of(static_cast<unsigned char>(bytes[i]));
        const std::size_t part = shape.length == 0 ? 1 : well_formed_prefix(bytes.substr(i), shape);
        append_utf8(out, U'\uFFFD');
        i += part;
    }
    return out;
}

bool is_white_space(char32_t code_point) {
    return u_isUWhiteSpace(static_cast<UChar32>(code_point));
}

bool is_word_char(char32_t code_point) {
    const auto c = static_cast<UChar32>(code_point);
    const int8_t type = u_charType(c);
    return c == '_' || u_isUAlphabetic(c) || type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER ||
           type == U_OTHER_NUMBER;
}

std::string normalize(std::string_view text, NormalForm form) {
    if (ascii_only(text)) return std::string(text); // ASCII is invariant under every form
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* normalizer = nullptr;
    switch (form) {
    case NormalForm::NFC: normalizer = unorm2_getNFCInstance(&status); break;
    case NormalForm::NFD: normalizer = unorm2_getNFDInstance(&status); break;
    case NormalForm::NFKC: normalizer = unorm2_getNFKCInstance(&status); break;
    case NormalForm::NFKD: normalizer = unorm2_getNFKDInstance(&status); break;
    }
    if (U_FAILURE(status)) throw Error(std::string("ICU normalizer unavailable: ") + u_errorName(status));
    return transform_utf16(text, "Unicode normalization",
                           [&](const UChar* src, int32_t n, UChar* dst, int32_t capacity, UErrorCode* error) {
                               return unorm2_normalize(normalizer, src, n, dst, capacity, error);
                           });
}

std::string to_lower(std::string_view text) {
    return transform_utf16(text, "lowercasing",
                           [](const UChar* src, int32_t n, UChar* dst, int32_t capacity, UErrorCode* error) {
                               return u_strToLower(dst, capacity, src, n, "", error);
                           });
}

} // namespace hookscope::unicode
