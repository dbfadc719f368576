// Caches from anywhere: .npz reading (np.savez and np.savez_compressed layouts, built
// here byte by byte), and opening safetensors or .npz caches written by us or by
// Python, with or without the batch axis, with TransformerBridge names.

#include "bridge/core/errors.h"
#include "bridge/formats/npy_header.h"
#include "bridge/io/cache_file.h"
#include "bridge/io/export.h"
#include "bridge/io/npz.h"
#include "bridge/model/model.h"
#include "support/error_text.h"
#include "support/test_main.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include <zlib.h>

namespace tst_cache_file {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

void put(std::string& out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i, value >>= 8)
        out += static_cast<char>(value & 0xff);
}

// A .npy member: version 1.0 header around `dict`, then the raw bytes.
std::string npy(const std::string& dict, const void* data, std::size_t size) {
    std::string header = dict;
    while ((10 + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY\x01";
    out += '\0';
    put(out, header.size(), 2);
    return out + header + std::string(static_cast<const char*>(data), size);
}

std::string deflate_raw(const std::string& in) {
    std::string out(compressBound(static_cast<uLong>(in.size())) + 64, '\0');
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// A zip of `members` (name, bytes), stored or deflated, as Python's zipfile writes it.
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& members, bool deflated,
               bool corrupt_crc = false) {
    std::string body, directory;
    for (const auto& [name, bytes] : members) {
        const std::string packed = deflated ? deflate_raw(bytes) : bytes;
        uint32_t crc = static_cast<uint32_t>(
            crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
        if (corrupt_crc) crc ^= 1;
        const auto header = [&](bool central) {
            std::string h;
            put(h, central ? 0x02014b50 : 0x04034b50, 4);
            if (central) put(h, 20, 2);
            put(h, 20, 2);
            put(h, 0, 2);
            put(h, deflated ? 8 : 0, 2);
            put(h, 0, 4);
            put(h, crc, 4);
            put(h, packed.size(), 4);
            put(h, bytes.size(), 4);
            put(h, name.size(), 2);
            put(h, 0, 2);
            if (central) {
                put(h, 0, 6); // comment length, disk, internal attributes
                put(h, 0, 4); // external attributes
                put(h, body.size(), 4);
            }
            return h + name;
        };
        directory += header(true);
        body += header(false) + packed;
    }
    std::string end;
    put(end, 0x06054b50, 4);
    put(end, 0, 4);
    put(end, members.size(), 2);
    put(end, members.size(), 2);
    put(end, directory.size(), 4);
    put(end, body.size(), 4);
    put(end, 0, 2);
    std::ofstream(path, std::ios::binary) << body << directory << end;
}

} // namespace

class TestCacheFile : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    fs::path file(const std::string& name) const { return fs::path(dir_.path().toStdString()) / name; }

private slots:
    void npyHeaders() {
        const NpyHeader h = parse_npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 12, 64), }");
        QCOMPARE(h.descr, std::string("<f4"));
        QVERIFY(!h.fortran_order);
        QCOMPARE(h.shape, (std::vector<int64_t>{1, 12, 64}));
        QCOMPARE(parse_npy_header("{'descr':'<i8','fortran_order':True,'shape':(5,)}").shape, std::vector<int64_t>{5});
        QVERIFY(parse_npy_header("{'descr': '<U7', 'fortran_order': False, 'shape': ()}").shape.empty());
        for (const char* bad : {"", "{'descr': '<f4'}", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}",
                                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
                                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}",
                                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4)}"}) {
            QVERIFY_THROWS_EXCEPTION(std::invalid_argument, parse_npy_header(bad));
        }
        QCOMPARE(npy_element_size("<f4"), std::optional<int64_t>(4));
        QCOMPARE(npy_element_size("<U3"), std::optional<int64_t>(12));
        QCOMPARE(npy_element_size("|O"), std::nullopt); // object arrays: pickles, never read
        QCOMPARE(npy_element_size(">f4"), std::nullopt);
    }

    // np.savez (stored) and np.savez_compressed (deflated) layouts, Fortran order, and
    // our metadata's 0-d unicode array.
    void npzStoredAndCompressed() {
        const float values[6] = {1, 2, 3, 4, 5, 6};
        const char32_t text[] = U"{\"a\": \"\u00e9\"}";
        const std::vector<std::pair<std::string, std::string>> members{
            {"c.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", values, sizeof values)},
            {"f.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", values, sizeof values)},
            {"__metadata__.npy",
             npy("{'descr': '<U11', 'fortran_order': False, 'shape': (), }", text, 11 * sizeof(char32_t))},
        };
        for (const bool deflated : {false, true}) {
            const fs::path path = file(deflated ? "compressed.npz" : "stored.npz");
            write_zip(path, members, deflated);
            const NpzContents npz = read_npz(path);
            QCOMPARE(npz.arrays.size(), std::size_t{2});
            QCOMPARE(npz.arrays[0].first, std::string("c"));
            QVERIFY(at::equal(npz.arrays[0].second, at::arange(1, 7, at::kFloat).view({2, 3})));
            // Column-major: element (i, j) is at j * 2 + i.
            QVERIFY(at::equal(npz.arrays[1].second, at::arange(1, 7, at::kFloat).view({3, 2}).t()));
            QCOMPARE(npz.metadata_json, std::optional<std::string>("{\"a\": \"\u00e9\"}"));
        }
    }

    void npzRefusals() {
        const float values[2] = {1, 2};
        const auto refused = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& m,
                                 const QString& why, bool corrupt_crc = false) {
            write_zip(file(name), m, false, corrupt_crc);
            const QString message = test::error_of([&] { read_npz(file(name)); });
            QVERIFY2(message.contains(QString::fromStdString(name)) && message.contains(why), qPrintable(message));
        };
        refused("object.npz", {{"x.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", values, 8)}},
                "member `x.npy`: arrays of `|O` are not read (object arrays would need unpickling");
        refused("short.npz", {{"x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", values, 8)}},
                "holds 8 bytes of data, not the 12 its shape needs");
        refused("crc.npz", {{"x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", values, 8)}},
                "its CRC does not match", true);
        std::ofstream(file("not-a-zip.npz")) << "hello";
        QVERIFY(test::error_of([&] { read_npz(file("not-a-zip.npz")); }).contains("not a zip archive"));
    }

    void bridgeNamesAlias() {
        QCOMPARE(hooked_transformer_name("blocks.3.hook_in"), std::optional<std::string>("blocks.3.hook_resid_pre"));
        QCOMPARE(hooked_transformer_name("blocks.11.hook_out"),
                 std::optional<std::string>("blocks.11.hook_resid_post"));
        QCOMPARE(hooked_transformer_name("blocks.0.attn.o.hook_in"),
                 std::optional<std::string>("blocks.0.attn.hook_z"));
        QCOMPARE(hooked_transformer_name("blocks.2.attn.k.hook_out"),
                 std::optional<std::string>("blocks.2.attn.hook_k"));
        QCOMPARE(hooked_transformer_name("blocks.2.mlp.input.hook_out"),
                 std::optional<std::string>("blocks.2.mlp.hook_pre"));
        QCOMPARE(hooked_transformer_name("embed.hook_out"), std::optional<std::string>("hook_embed"));
        QCOMPARE(hooked_transformer_name("blocks.0.ln1.hook_in"), std::nullopt);
    }

    // Our own export, safetensors and .npz: tokens and their strings come back.
    void ourExportsOpen() {
        const auto model = Model::load(kGpt2);
        const std::vector<int64_t> tokens{0, 17, 42, 99};
        const ActivationCache cache =
            model->run_with_cache(tokens, NamesFilter("*resid_post, blocks.0.attn.hook_pattern"));
        const ExportInfo info =
            export_info_for(kGpt2.string(), model->fingerprint(), nullptr, tokens, 3, "{}", Precision::Float32);
        for (const char* name : {"ours.safetensors", "ours.npz"}) {
            export_cache(cache, file(name), info);
            const OpenedCache opened = open_cache_file(file(name));
            QVERIFY(opened.token_ids_known);
            QCOMPARE(opened.cache.tokens(), tokens);
            QCOMPARE(opened.token_strings, (std::vector<std::string>{"[0]", "[17]", "[42]", "[99]"}));
            QCOMPARE(opened.prompt_length, int64_t{3});
            QCOMPARE(opened.model, kGpt2.string());
            QCOMPARE(opened.cache.names(), cache.names());
            QVERIFY(at::equal(opened.cache["blocks.0.attn.hook_pattern"], cache["blocks.0.attn.hook_pattern"]));
            QVERIFY(opened.notes.empty() && opened.other.empty());
        }
    }

    // What Python writes from a TransformerLens cache: no metadata, maybe no batch
    // axis, TransformerBridge names beside their aliases, and tensors of its own.
    void pythonCachesOpen() {
        const at::Tensor resid = at::randn({5, 8}), pattern = at::rand({2, 5, 5});
        write_safetensors(file("bridge.safetensors"), {{"blocks.0.hook_in", resid},
                                                       {"blocks.0.hook_resid_pre", resid},
                                                       {"blocks.0.hook_out", resid * 2},
                                                       {"blocks.0.attn.hook_pattern", pattern},
                                                       {"probe.weights", at::ones({3})}});
        const OpenedCache opened = open_cache_file(file("bridge.safetensors"));
        QVERIFY(!opened.token_ids_known);
        QCOMPARE(opened.cache.tokens(), std::vector<int64_t>(5, -1));
        QCOMPARE(opened.cache.names(),
                 (std::vector<std::string>{"blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern",
                                           "blocks.0.hook_resid_post", "probe.weights", "blocks.0.hook_in"}));
        QVERIFY(at::equal(opened.cache["blocks.0.hook_resid_post"], (resid * 2).unsqueeze(0)));
        QCOMPARE(opened.cache["blocks.0.attn.hook_pattern"].sizes().vec(), (std::vector<int64_t>{1, 2, 5, 5}));
        QCOMPARE(opened.other, (std::vector<std::string>{"probe.weights", "blocks.0.hook_in"}));
        QCOMPARE(opened.notes, (std::vector<std::string>{"1 TransformerBridge name read as its HookedTransformer alias",
                                                         "a batch dimension added to 3 tensors"}));

        // A batch of three: the first sequence.
        const at::Tensor batch = at::randn({3, 4, 8});
        write_safetensors(file("batch.safetensors"), {{"hook_embed", batch}});
        const OpenedCache first = open_cache_file(file("batch.safetensors"));
        QVERIFY(at::equal(first.cache["hook_embed"], batch.narrow(0, 0, 1)));
        QCOMPARE(first.notes, std::vector<std::string>{"a batch of 3 sequences: the first is shown"});
    }

    void brokenCachesAreRefused() {
        write_safetensors(file("mismatch.safetensors"), {{"hook_embed", at::zeros({1, 4, 8})},
                                                         {"blocks.0.attn.hook_pattern", at::zeros({1, 2, 5, 5})}});
        QString message = test::error_of([&] { open_cache_file(file("mismatch.safetensors")); });
        QVERIFY2(message.contains("`blocks.0.attn.hook_pattern` covers 5 positions, but `hook_embed` 4"),
                 qPrintable(message));
        write_safetensors(file("foreign.safetensors"), {{"weights", at::zeros({2})}});
        message = test::error_of([&] { open_cache_file(file("foreign.safetensors")); });
        QVERIFY2(message.contains("no tensor is named as a TransformerLens hook point"), qPrintable(message));
        write_safetensors(file("rank.safetensors"), {{"hook_embed", at::zeros({8})}});
        message = test::error_of([&] { open_cache_file(file("rank.safetensors")); });
        QVERIFY2(message.contains("`hook_embed` has 1 axes"), qPrintable(message));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestCacheFile)

} // namespace tst_cache_file
#include "tst_cache_file.moc"
