// Export of activation caches: safetensors and .npz round trips, metadata, and
// atomic writes that never leave a partial file.

#include "bridge/core/errors.h"
#include "bridge/formats/atomic_file.h"
#include "bridge/formats/sha256.h"
#include "bridge/io/export.h"
#include "bridge/io/session.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "support/error_text.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace tst_export {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";
const std::vector<int64_t> kTokens{0, 17, 42, 99, 128};

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

uint32_t le32(const std::string& s, std::size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

uint16_t le16(const std::string& s, std::size_t at) {
    return static_cast<uint16_t>(static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8));
}

// Reads a stored (uncompressed) zip: member name -> bytes, following the central directory.
std::map<std::string, std::string> read_zip(const std::string& zip) {
    const std::size_t end = zip.rfind(std::string("PK\x05\x06", 4));
    if (end == std::string::npos) throw std::runtime_error("no end of central directory");
    const uint16_t count = le16(zip, end + 10);
    std::size_t at = le32(zip, end + 16);
    std::map<std::string, std::string> members;
    for (int i = 0; i < count; ++i) {
        if (le32(zip, at) != 0x02014b50) throw std::runtime_error("bad central header");
        const uint32_t size = le32(zip, at + 24);
        const uint16_t name_len = le16(zip, at + 28);
        const uint32_t local = le32(zip, at + 42);
        const std::string name = zip.substr(at + 46, name_len);
        if (le32(zip, local) != 0x04034b50 || le16(zip, local + 8) != 0) throw std::runtime_error("bad local header");
        const std::size_t data = local + 30 + le16(zip, local + 26) + le16(zip, local + 28);
        members[name] = zip.substr(data, size);
        at += 46 + name_len + le16(zip, at + 30) + le16(zip, at + 32);
    }
    return members;
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<Model> model_;
    ActivationCache cache_;
    ExportInfo info_;

    fs::path path(const std::string& name) const { return fs::path(dir_.path().toStdString()) / name; }

private slots:
    void initTestCase() {
        model_ = Model::load(kGpt2);
        cache_ = model_->run_with_cache(kTokens, NamesFilter("blocks.0.*, unembed.hook_out"));
        info_.model = kGpt2.string();
        info_.model_fingerprint = model_->fingerprint();
        info_.token_strings = {"0", "17", "42", "99", "128"};
        info_.prompt_length = 3;
        info_.generation_json = R"({"max_new_tokens":2,"do_sample":false})";
    }

    void sha256KnownVectors() {
        Sha256 empty;
        QCOMPARE(empty.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        Sha256 abc;
        abc.update("abc");
        QCOMPARE(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        Sha256 long_input; // 56 bytes: the padding spills into a second block
        long_input.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
        QCOMPARE(long_input.hex_digest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }

    void safetensorsRoundTrip() {
        const fs::path file = path("cache.safetensors");
        export_cache(cache_, file, info_);
        const auto back = SafetensorsFile::open(file);
        QCOMPARE(back->tensors().size(), cache_.size());
        for (const auto& [name, tensor] : cache_.entries()) {
            QVERIFY2(at::equal(back->tensor(name), tensor), name.c_str());
        }
        // Stored in cache (execution) order.
        for (std::size_t i = 0; i < cache_.size(); ++i)
            QCOMPARE(back->tensors()[i].name, cache_.entries()[i].first);

        const auto& m = back->metadata();
        QCOMPARE(m.at("format"), "hookscope.activation_cache.v1");
        QCOMPARE(m.at("model"), kGpt2.string());
        QCOMPARE(m.at("model_fingerprint"), model_->fingerprint());
        QCOMPARE(m.at("token_ids"), "[0,17,42,99,128]");
        QCOMPARE(m.at("token_strings"), R"(["0","17","42","99","128"])");
        QCOMPARE(m.at("prompt_length"), "3");
        QCOMPARE(m.at("names_filter"), "blocks.0.*, unembed.hook_out");
        QCOMPARE(nlohmann::json::parse(m.at("generation"))["max_new_tokens"].get<int>(), 2);
        QCOMPARE(m.at("dtype"), "float32");
    }

    // A session holds the cache (in capture order), the logits and the window's state,
    // and reads back equal; a file that is not one, or does not add up, is refused.
    void sessionsRoundTrip() {
        const fs::path file = path("run.hookscope.safetensors");
        save_session(file, cache_, info_, R"({"prompt": "0 17 42", "token_mode": true})");
        const Session s = load_session(file);
        QCOMPARE(s.cache.tokens(), cache_.tokens());
        QCOMPARE(s.cache.names(), cache_.names());
        QCOMPARE(s.cache.names_filter(), cache_.names_filter());
        for (const auto& [name, tensor] : cache_.entries())
            QVERIFY2(at::equal(s.cache[name], tensor), name.c_str());
        QVERIFY(at::equal(s.cache.logits(), cache_.logits()));
        QCOMPARE(s.info.model, info_.model);
        QCOMPARE(s.info.model_fingerprint, info_.model_fingerprint);
        QCOMPARE(s.info.token_strings, info_.token_strings);
        QCOMPARE(s.info.prompt_length, info_.prompt_length);
        QCOMPARE(nlohmann::json::parse(s.session_json)["prompt"].get<std::string>(), "0 17 42");
        // Still an ordinary export for Python.
        QCOMPARE(SafetensorsFile::open(file)->metadata().at("format"), "hookscope.activation_cache.v1");

        const fs::path plain = path("plain.safetensors");
        export_cache(cache_, plain, info_);
        QString message = error_of([&] { load_session(plain); });
        QVERIFY2(message.contains("plain.safetensors") && message.contains("`session`"), qPrintable(message));

        ExportInfo wrong = info_;
        ActivationCache shorter({0, 17, 42}, "");
        shorter.add("hook_embed", cache_["blocks.0.hook_resid_pre"]); // 5 positions, 3 tokens
        wrong.token_strings = {"0", "17", "42"};
        save_session(path("bad.safetensors"), shorter, wrong, "{}");
        message = error_of([&] { load_session(path("bad.safetensors")); });
        QVERIFY2(message.contains("`hook_embed`") && message.contains("covers 5 positions") &&
                     message.contains("3 tokens"),
                 qPrintable(message));
        // An attention pattern over the wrong number of positions, even where its head
        // count happens to equal the token count.
        ActivationCache squares({0, 17, 42}, "");
        squares.add("blocks.0.attn.hook_pattern", at::zeros({1, 3, 4, 4}));
        save_session(path("squares.safetensors"), squares, wrong, "{}");
        message = error_of([&] { load_session(path("squares.safetensors")); });
        QVERIFY2(message.contains("is not [1, heads, 3, 3]"), qPrintable(message));

        message = error_of([&] { load_session(path("missing.safetensors")); });
        QVERIFY2(message.contains("missing.safetensors"), qPrintable(message));
    }

    // A session whose metadata was edited into nonsense: each field is refused by name.
    void malformedSessionMetadataIsRefused_data() {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("error");
        QTest::newRow("format") << "format"
                                << "something.else"
                                << "unknown format `something.else`";
        QTest::newRow("ids not JSON") << "token_ids"
                                      << "[0, 17,"
                                      << "metadata `token_ids` is not valid JSON";
        QTest::newRow("ids not integers") << "token_ids"
                                          << R"([0, "x", 42, 99, 128])"
                                          << "`token_ids` is not a list of integers";
        QTest::newRow("strings not strings") << "token_strings"
                                             << "[0, 1, 2, 3, 4]"
                                             << "`token_strings` is not a list of strings";
        QTest::newRow("strings too few") << "token_strings"
                                         << R"(["a"])"
                                         << "`token_strings` is not a list of strings";
        QTest::newRow("prompt length text") << "prompt_length"
                                            << "three"
                                            << "`prompt_length` is not a number";
        QTest::newRow("prompt length too long") << "prompt_length"
                                                << "6"
                                                << "`prompt_length` is out of range";
        QTest::newRow("prompt length negative") << "prompt_length"
                                                << "-1"
                                                << "`prompt_length` is out of range";
        QTest::newRow("session not an object") << "session"
                                               << "[1]"
                                               << "`session` is not a JSON object";
    }

    void malformedSessionMetadataIsRefused() {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, error);
        const fs::path good = path("good.hookscope.safetensors");
        save_session(good, cache_, info_, "{}");
        const auto original = SafetensorsFile::open(good);
        NamedTensors tensors;
        for (const TensorInfo& t : original->tensors())
            tensors.emplace_back(t.name, original->tensor(t.name));
        std::map<std::string, std::string> metadata = original->metadata();
        metadata[key.toStdString()] = value.toStdString();
        const fs::path edited = path("edited.hookscope.safetensors");
        write_safetensors(edited, tensors, metadata);
        const QString message = error_of([&] { load_session(edited); });
        QVERIFY2(message.startsWith(QString::fromStdString(edited.string()) + ": ") && message.contains(error),
                 qPrintable(message));
    }

    void exportsChosenNamesOnly() {
        const fs::path file = path("some.safetensors");
        export_cache(cache_, file, info_, {"unembed.hook_out", "blocks.0.attn.hook_pattern"});
        const auto back = SafetensorsFile::open(file);
        QCOMPARE(back->tensors().size(), std::size_t(2));
        QVERIFY(at::equal(back->tensor("unembed.hook_out"), cache_.logits()));
        QVERIFY_THROWS_EXCEPTION(NotCapturedError, export_cache(cache_, path("x.safetensors"), info_, {"hook_embed"}));
        QVERIFY(!fs::exists(path("x.safetensors")));
    }

    void otherDtypeOnRequest() {
        const fs::path file = path("half.safetensors");
        export_cache(cache_, file, info_, {"blocks.0.hook_resid_pre"}, at::kHalf);
        const auto back = SafetensorsFile::open(file);
        QCOMPARE(back->find("blocks.0.hook_resid_pre")->dtype, DType::F16);
        QCOMPARE(back->metadata().at("dtype"), "float16");
    }

    void npzRoundTrip() {
        const fs::path file = path("cache.npz");
        export_cache(cache_, file, info_);
        const auto members = read_zip(read_bytes(file));
        QCOMPARE(members.size(), cache_.size() + 1);
        for (const auto& [name, tensor] : cache_.entries()) {
            const auto it = members.find(name + ".npy");
            QVERIFY2(it != members.end(), name.c_str());
            const std::string& npy = it->second;
            QCOMPARE(npy.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
            const std::size_t header_len = le16(npy, 8);
            QCOMPARE((10 + header_len) % 64, std::size_t(0)); // data 64-byte aligned
            const std::string header = npy.substr(10, header_len);
            std::string shape = "(";
            for (std::size_t i = 0; i < tensor.sizes().size(); ++i) {
                shape +=
                    std::to_string(tensor.size(static_cast<int64_t>(i))) + (i + 1 < tensor.sizes().size() ? ", " : "");
            }
            QVERIFY2(header.find("'descr': '<f4'") != std::string::npos, header.c_str());
            QVERIFY2(header.find("'shape': " + shape + ")") != std::string::npos, header.c_str());
            QCOMPARE(header.back(), '\n');
            const at::Tensor expected = tensor.contiguous();
            QCOMPARE(npy.size() - 10 - header_len, std::size_t(expected.numel() * 4));
            QVERIFY(std::memcmp(npy.data() + 10 + header_len, expected.data_ptr(), expected.numel() * 4) == 0);
        }
        // __metadata__ is a 0-d UTF-32 string array holding the metadata JSON.
        const std::string& meta = members.at("__metadata__.npy");
        const std::size_t header_len = le16(meta, 8);
        QVERIFY(meta.substr(10, header_len).find("'shape': ()") != std::string::npos);
        std::string text;
        for (std::size_t i = 10 + header_len; i + 4 <= meta.size(); i += 4)
            text += static_cast<char>(le32(meta, i));
        const auto metadata = nlohmann::json::parse(text);
        QCOMPARE(metadata["format"].get<std::string>(), "hookscope.activation_cache.v1");
        QCOMPARE(metadata["token_ids"].get<std::string>(), "[0,17,42,99,128]");
    }

    void failedExportLeavesNothingBehind() {
        const fs::path locked = path("locked");
        fs::create_directories(locked);
        const fs::path target = locked / "cache.safetensors";
        export_cache(cache_, target, info_, {"blocks.0.hook_resid_pre"});
        const std::string before = read_bytes(target);
        ::chmod(locked.c_str(), 0555);
        const bool root = ::geteuid() == 0; // root ignores folder permissions
        if (!root) {
            try {
                export_cache(cache_, target, info_);
                QFAIL("expected ExportError");
            } catch (const ExportError& e) {
                QVERIFY2(QString(e.what()).contains("cannot write " + QString::fromStdString(target.string())),
                         e.what());
            }
        }
        ::chmod(locked.c_str(), 0755);
        QCOMPARE(read_bytes(target), before);
        QCOMPARE(std::distance(fs::directory_iterator(locked), fs::directory_iterator{}), 1);

        // A folder that does not exist fails the same way, for root too.
        QVERIFY_THROWS_EXCEPTION(ExportError, export_cache(cache_, path("absent/cache.safetensors"), info_));
        QVERIFY(!fs::exists(path("absent")));
    }

    void failureWhileWritingRemovesTheTemporaryFile() {
        // bfloat16 has no NumPy dtype: the npz writer refuses it before the target changes.
        const fs::path target = path("keep.npz");
        export_cache(cache_, target, info_, {"blocks.0.hook_resid_pre"});
        const std::string before = read_bytes(target);
        try {
            export_cache(cache_, target, info_, {}, at::kBFloat16);
            QFAIL("expected ExportError");
        } catch (const ExportError& e) {
            QVERIFY2(QString(e.what()).contains("NumPy has no"), e.what());
        }
        QCOMPARE(read_bytes(target), before);
        // The atomic writer cleans up when the producer throws mid-way.
        QVERIFY_THROWS_EXCEPTION(ExportError, write_file_atomically(target, [](ByteSink& out) {
                                     out.write("partial");
                                     throw std::runtime_error("disk on fire");
                                 }));
        QCOMPARE(read_bytes(target), before);
        for (const auto& entry : fs::directory_iterator(dir_.path().toStdString())) {
            QVERIFY2(entry.path().filename().string().find(".tmp-") == std::string::npos,
                     entry.path().string().c_str());
        }
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestExport)

} // namespace tst_export
#include "tst_export.moc"
