// SHA-256 against FIPS 180-4's example digests, and the SHA-extension rounds against
// the portable ones on lengths that cross every block boundary, fed whole and in pieces.

#include "bridge/formats/sha256.h"
#include "support/test_main.h"

#include <QtTest>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tst_sha256 {

using namespace hookscope;

namespace {

std::string digest_of(std::string_view text) {
    Sha256 hash;
    hash.update(text);
    return hash.hex_digest();
}

std::array<uint32_t, 8> initial_state() {
    return {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
}

} // namespace

class TestSha256 : public QObject {
    Q_OBJECT

private slots:
    void standardExamples() {
        QCOMPARE(digest_of(""), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        QCOMPARE(digest_of("abc"), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        QCOMPARE(digest_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                 std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        // A million 'a' in pieces of 1000: the buffered tail and whole blocks alternate.
        Sha256 hash;
        const std::string piece(1000, 'a');
        for (int i = 0; i < 1000; ++i)
            hash.update(piece);
        QCOMPARE(hash.hex_digest(), std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    }

    void piecesGiveTheDigestOfTheWhole() {
        std::mt19937 random(7);
        std::string bytes(1000, '\0');
        for (char& c : bytes)
            c = static_cast<char>(random());
        for (const std::size_t cut : {0, 1, 55, 63, 64, 65, 127, 128, 500, 999}) {
            Sha256 pieces;
            pieces.update(std::string_view(bytes).substr(0, cut));
            pieces.update(std::string_view(bytes).substr(cut));
            QCOMPARE(pieces.hex_digest(), digest_of(bytes));
        }
    }

    void extensionRoundsEqualPortableRounds() {
        if (!sha256_detail::sha_extensions_available()) QSKIP("this CPU has no SHA extensions");
        std::mt19937 random(11);
        std::vector<unsigned char> bytes(64 * 40);
        for (unsigned char& b : bytes)
            b = static_cast<unsigned char>(random());
        for (const std::size_t count : {1, 2, 3, 17, 40}) {
            std::array<uint32_t, 8> portable = initial_state(), extension = initial_state();
            sha256_detail::portable_blocks(portable.data(), bytes.data(), count);
            sha256_detail::extension_blocks(extension.data(), bytes.data(), count);
            QCOMPARE(extension, portable);
        }
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestSha256)

} // namespace tst_sha256
#include "tst_sha256.moc"
