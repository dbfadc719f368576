#include "bridge/formats/npy_header.h"

#include <cctype>
#include <charconv>
#include <limits>
#include <stdexcept>

namespace hookscope {
namespace {

// A cursor over the dictionary text.
struct Reader {
    std::string_view text;
    std::size_t at = 0;

    void skip_space() {
        while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at])))
            ++at;
    }
    bool take(char c) {
        skip_space();
        if (at < text.size() && text[at] == c) {
            ++at;
            return true;
        }
        return false;
    }
    void expect(char c, const char* where) {
        if (!take(c)) throw std::invalid_argument(std::string("expected `") + c + "` " + where);
    }
    std::string quoted() {
        skip_space();
        if (at >= text.size() || (text[at] != '\'' && text[at] != '"')) {
            throw std::invalid_argument("expected a quoted string");
        }
        const char quote = text[at++];
        const std::size_t end = text.find(quote, at);
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated string");
        std::string out(text.substr(at, end - at));
        at = end + 1;
        return out;
    }
    bool boolean() {
        skip_space();
        for (const auto& [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}}) {
            if (text.substr(at, word.size()) == word) {
                at += word.size();
                return value;
            }
        }
        throw std::invalid_argument("expected True or False");
    }
    std::vector<int64_t> tuple() {
        expect('(', "to open the shape");
        std::vector<int64_t> dims;
        while (!take(')')) {
            skip_space();
            int64_t n = 0;
            const auto [end, error] = std::from_chars(text.data() + at, text.data() + text.size(), n);
            if (error != std::errc() || n < 0) throw std::invalid_argument("a shape entry is not a size");
            at = static_cast<std::size_t>(end - text.data());
            dims.push_back(n);
            if (dims.size() > 64) throw std::invalid_argument("more than 64 dimensions");
            if (!take(',')) {
                expect(')', "to close the shape");
                break;
            }
        }
        return dims;
    }
};

} // namespace

NpyHeader parse_npy_header(std::string_view dict) {
    Reader r{dict};
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    r.expect('{', "at the start");
    while (!r.take('}')) {
        const std::string key = r.quoted();
        r.expect(':', "after a key");
        if (key == "descr" && !has_descr) {
            h.descr = r.quoted();
            has_descr = true;
        } else if (key == "fortran_order" && !has_order) {
            h.fortran_order = r.boolean();
            has_order = true;
        } else if (key == "shape" && !has_shape) {
            h.shape = r.tuple();
            has_shape = true;
        } else {
            throw std::invalid_argument("unexpected or repeated key `" + key + "`");
        }
        if (!r.take(',')) {
            r.expect('}', "to close the dictionary");
            break;
        }
    }
    if (!has_descr || !has_order || !has_shape) {
        throw std::invalid_argument("the dictionary lacks descr, fortran_order or shape");
    }
    int64_t elements = 1;
    for (const int64_t d : h.shape) {
        if (d != 0 && elements > std::numeric_limits<int64_t>::max() / d) {
            throw std::invalid_argument("the shape's element count overflows");
        }
        elements *= d;
    }
    return h;
}

NpyLayout parse_npy(std::string_view bytes) {
    if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY") throw std::invalid_argument("not a .npy array");
    const int major = static_cast<unsigned char>(bytes[6]);
    if (major < 1 || major > 3) throw std::invalid_argument("an unknown .npy version");
    const std::size_t length_bytes = major == 1 ? 2 : 4;
    if (bytes.size() < 8 + length_bytes) throw std::invalid_argument("a truncated .npy header");
    uint64_t header_length = 0;
    for (std::size_t i = length_bytes; i-- > 0;)
        header_length = (header_length << 8) | static_cast<unsigned char>(bytes[8 + i]);
    if (header_length > bytes.size() - 8 - length_bytes) throw std::invalid_argument("its header runs past the data");
    NpyLayout layout;
    layout.data_offset = 8 + length_bytes + static_cast<std::size_t>(header_length);
    layout.header = parse_npy_header(bytes.substr(8 + length_bytes, static_cast<std::size_t>(header_length)));
    const auto element = npy_element_size(layout.header.descr);
    if (!element) {
        throw std::invalid_argument("arrays of `" + layout.header.descr +
                                    "` are not read (object arrays would need unpickling; bool, integer and float "
                                    "arrays are read)");
    }
    layout.element_size = *element;
    uint64_t count = 1;
    for (const int64_t d : layout.header.shape)
        count *= static_cast<uint64_t>(d); // parse_npy_header checked that it cannot overflow
    const uint64_t data = bytes.size() - layout.data_offset;
    if (count > data || count * static_cast<uint64_t>(*element) != data) {
        throw std::invalid_argument("holds " + std::to_string(data) + " bytes of data, not the " +
                                    std::to_string(count * static_cast<uint64_t>(*element)) + " its shape needs");
    }
    return layout;
}

std::optional<int64_t> npy_element_size(std::string_view descr) {
    if (descr.size() >= 3 && descr[0] == '<' && descr[1] == 'U') {
        int64_t n = 0;
        const auto [end, error] = std::from_chars(descr.data() + 2, descr.data() + descr.size(), n);
        if (error != std::errc() || end != descr.data() + descr.size() || n < 1 || n > (int64_t{1} << 30)) {
            return std::nullopt;
        }
        return 4 * n;
    }
    for (const auto& [name, size] : {std::pair{std::string_view("<f4"), 4},
                                     {"<f8", 8},
                                     {"<f2", 2},
                                     {"<i8", 8},
                                     {"<i4", 4},
                                     {"<i2", 2},
                                     {"|i1", 1},
                                     {"|u1", 1},
                                     {"|b1", 1}}) {
        if (descr == name) return size;
    }
    return std::nullopt;
}

} // namespace hookscope
