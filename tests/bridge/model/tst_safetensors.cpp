// The safetensors reader and writer, and checkpoint folders: every malformed input
// is refused with an error that names the file and the problem.

#include "bridge/core/errors.h"
#include "bridge/model/checkpoint.h"
#include "bridge/model/model.h"
#include "bridge/model/safetensors.h"
#include "bridge/model/weights.h"
#include "support/edited_checkpoint.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <limits>

namespace tst_safetensors {

using namespace hookscope;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

std::string length_prefix(uint64_t n) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out;
}

// A file of `header` (with its true length) followed by `data_bytes` bytes.
std::string file_bytes(const std::string& header, std::size_t data_bytes) {
    return length_prefix(header.size()) + header + std::string(data_bytes, '\x01');
}

void write(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// Expects `f` to throw CheckpointError whose message contains `fragment`.
template <class F> void expect_error(F&& f, const QString& fragment) {
    try {
        f();
        QFAIL(qPrintable("no error; expected one containing: " + fragment));
    } catch (const CheckpointError& e) {
        QVERIFY2(QString(e.what()).contains(fragment), e.what());
    }
}

// This process's resident memory in KiB (file pages it maps included).
long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    fs::path path(const std::string& name) const { return fs::path(dir_.path().toStdString()) / name; }

    // A copy of the tiny GPT-2 checkpoint whose tensors `edit` may change.
    fs::path edited_gpt2(const std::string& name, const std::function<void(NamedTensors&)>& edit,
                         const std::string& config = {}) {
        return test::edited_checkpoint(kGpt2, path(name), edit, config);
    }

private slots:
    // Converting a float32 file's weight to bfloat16 hands each converted part's file
    // pages back: resident memory grows by the bfloat16 copy (32 MiB here) and a part's
    // temporaries (parts of 4 MiB), never by both copies (32 + 64 MiB).
    void convertingWeightsHandsTheFilePagesBack() {
        const fs::path folder = path("f32-weights");
        fs::create_directories(folder);
        write_safetensors(folder / "model.safetensors", {{"w", at::rand({4096, 4096})}});
        const Checkpoint f32 = Checkpoint::open(folder, Precision::BFloat16);
        const long before = rss_kib();
        const at::Tensor w = f32.weight("w", {4096, 4096});
        const long growth_mib = (rss_kib() - before) / 1024;
        qInfo("resident memory grew by %ld MiB for a 32 MiB bfloat16 weight from a 64 MiB float32 one", growth_mib);
        QCOMPARE(w.scalar_type(), at::kBFloat16);
        // The pages handed back read the file again: the values are intact.
        QVERIFY(at::equal(f32.weight("w", {4096, 4096}), w));
#if defined(__SANITIZE_ADDRESS__)
        QSKIP("AddressSanitizer's quarantine keeps freed blocks resident: memory is measured in the release build");
#endif
        QVERIFY2(growth_mib < 64, qPrintable(QString::number(growth_mib)));
    }

    // A weight the model copies in its own type (copied_weight) hands the file's pages
    // back part by part: resident memory stays near one copy of the 64 MiB weight
    // (growth well under 32 MiB), never both, and the copy holds the file's values.
    void copyingWeightsHandsTheFilePagesBack() {
        const fs::path folder = path("f32-copied");
        fs::create_directories(folder);
        write_safetensors(folder / "model.safetensors", {{"w", at::rand({4096, 4096})}});
        const Checkpoint f32 = Checkpoint::open(folder, Precision::Float32);
        const at::Tensor view = f32.weight("w", {4096, 4096});
        QVERIFY(view.sum().item<double>() > 0); // every page read in
        const long before = rss_kib();
        const at::Tensor copy = copied_weight(view, f32, "w");
        const long growth_mib = (rss_kib() - before) / 1024;
        qInfo("resident memory grew by %ld MiB copying a 64 MiB float32 weight", growth_mib);
        QVERIFY(copy.data_ptr() != view.data_ptr());
        QVERIFY(at::equal(copy, f32.weight("w", {4096, 4096})));
#if defined(__SANITIZE_ADDRESS__)
        QSKIP("AddressSanitizer's quarantine keeps freed blocks resident: memory is measured in the release build");
#endif
        QVERIFY2(growth_mib < 32, qPrintable(QString::number(growth_mib)));
    }

    // A weight converted to bfloat16 that takes 2 MiB or more lands on memory of its own
    // on a 2 MiB boundary (map_huge_pages) with exactly the values LibTorch's rounding
    // gives, and so does a copy of one already in bfloat16; a float32 one in its type is
    // handed back as it is. A bfloat16 weight the model repacks at once is not copied,
    // nor is one that requires gradients (its owner updates that tensor); converted for
    // repacking, one has the same values.
    void largeConvertedWeightsLandOnHugePageMemory() {
        const auto on_huge_page_boundary = [](const at::Tensor& t) {
            return reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t{2} << 20) == 0;
        };
        const std::vector<int64_t> shape{1024, 1100};
        const at::Tensor big = at::randn(shape), big16 = big.to(at::kBFloat16); // 2.15 MiB in bfloat16
        const at::Tensor converted = checked_weight(big, "w", shape, "test", Precision::BFloat16);
        QCOMPARE(converted.scalar_type(), at::kBFloat16);
        QVERIFY(on_huge_page_boundary(converted));
        QVERIFY(at::equal(converted, big16));
        const at::Tensor kept = checked_weight(big, "w", shape, "test", Precision::Float32);
        QCOMPARE(kept.data_ptr(), big.data_ptr());

        const at::Tensor placed = checked_weight(big16, "w", shape, "test", Precision::BFloat16);
        QVERIFY(placed.data_ptr() != big16.data_ptr());
        QVERIFY(on_huge_page_boundary(placed));
        QVERIFY(at::equal(placed, big16));
        const at::Tensor as_is =
            checked_weight(big16, "w", shape, "test", Precision::BFloat16, nullptr, {}, WeightUse::Repacked);
        QCOMPARE(as_is.data_ptr(), big16.data_ptr());
        const at::Tensor converted_once =
            checked_weight(big, "w", shape, "test", Precision::BFloat16, nullptr, {}, WeightUse::Repacked);
        QVERIFY(at::equal(converted_once, big16));
        const at::Tensor trained = big16.clone().requires_grad_(true);
        QCOMPARE(checked_weight(trained, "w", shape, "test", Precision::BFloat16).data_ptr(), trained.data_ptr());
    }

    void readsTensorsAsViews() {
        const auto file = SafetensorsFile::open(kGpt2 / "model.safetensors");
        const TensorInfo* wte = file->find("transformer.wte.weight");
        QVERIFY(wte);
        QCOMPARE(wte->dtype, DType::F32);
        QCOMPARE(wte->shape, (std::vector<int64_t>{512, 64}));
        const at::Tensor t = file->tensor("transformer.wte.weight");
        QCOMPARE(t.sizes().vec(), (std::vector<int64_t>{512, 64}));
        QVERIFY(t.isfinite().all().item<bool>());
        // The view keeps the mapping alive after the file object is gone.
        const at::Tensor copy = t.clone();
        const at::Tensor view = SafetensorsFile::open(kGpt2 / "model.safetensors")->tensor("transformer.wte.weight");
        QVERIFY(at::equal(view, copy));
        QVERIFY(!file->find("lm_head.weight")); // tied, not stored
        expect_error([&] { (void)file->tensor("nope"); }, "model.safetensors: no tensor `nope`");
    }

    void roundTripsEveryDtype() {
        NamedTensors tensors{
            {"f32", at::arange(6, at::kFloat).view({2, 3})},
            {"f64", at::arange(3, at::kDouble)},
            {"f16", at::arange(4, at::kFloat).to(at::kHalf)},
            {"bf16", at::arange(5, at::kFloat).to(at::kBFloat16)},
            {"i64", at::arange(3, at::kLong)},
            {"i32", at::arange(3, at::kInt)},
            {"i8", at::arange(-2, 2, at::kChar)},
            {"u8", at::arange(3, at::kByte)},
            {"bool", at::tensor({1, 0, 1}).to(at::kBool)},
            {"scalar", at::full({}, 7.5f)},
            {"empty", at::empty({0, 4})},
            {"strided", at::arange(12, at::kFloat).view({3, 4}).t()},
        };
        write_safetensors(path("all.safetensors"), tensors, {{"key", "value"}});
        const auto file = SafetensorsFile::open(path("all.safetensors"));
        QCOMPARE(file->metadata().at("key"), "value");
        QCOMPARE(file->tensors().size(), tensors.size());
        for (const auto& [name, tensor] : tensors) {
            const at::Tensor back = file->tensor(name);
            QCOMPARE(back.scalar_type(), tensor.scalar_type());
            QVERIFY2(at::equal(back, tensor), name.c_str());
        }
        // Data without gaps: ranges are back to back and end at the file's end.
        uint64_t expected_begin = 0;
        for (const TensorInfo& info : file->tensors()) {
            QCOMPARE(info.begin, expected_begin);
            expected_begin = info.end;
        }
        QCOMPARE(8 + file->header_text().size() + expected_begin, fs::file_size(path("all.safetensors")));
        QCOMPARE(file->header_text().size() % 8, std::size_t(0));
    }

    void malformedFilesAreRefused_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("error");
        const auto row = [](const char* name, const std::string& bytes, const char* error) {
            QTest::newRow(name) << QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size())) << error;
        };
        const std::string ok_tensor = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
        row("empty file", "", "file is 0 bytes, too short for the 8-byte header length");
        row("truncated length prefix", std::string("\x10\0\0", 3), "file is 3 bytes, too short");
        row("header length beyond the file", length_prefix(4096) + "{}",
            "header length 4096 runs past the end of the file");
        row("absurd header length", length_prefix(1ull << 62) + "{}", "header length 4611686018427387904 is absurd");
        row("truncated header", length_prefix(40) + R"({"a":{"dtype":"F32")",
            "header length 40 runs past the end of the file (27 bytes)");
        row("invalid JSON", file_bytes(R"({"a":{"dtype":"F32",})", 0), "header is not valid JSON");
        row("JSON that is not an object", file_bytes("[1,2,3]", 0), "header is JSON but not an object");
        row("entry not an object", file_bytes(R"({"a":[1]})", 0), "tensor `a`: entry is not an object");
        row("unknown dtype", file_bytes(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
            "tensor `a`: unsupported dtype `F8_E4M3`");
        row("missing dtype", file_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "tensor `a`: missing dtype");
        row("negative dimension", file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
            "tensor `a`: shape has a dimension that is not a non-negative integer");
        row("missing shape", file_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8),
            "tensor `a`: missing shape");
        row("one data offset", file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", 8),
            "tensor `a`: data_offsets must be two non-negative integers");
        row("shape and bytes disagree", file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12),
            "tensor `a`: shape [3] of F32 needs 12 bytes but data_offsets cover 8");
        row("offsets end before they begin", file_bytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 8),
            "tensor `a`: data_offsets [8, 4] end before they begin");
        row("range beyond the data", file_bytes("{" + ok_tensor + "}", 4),
            "tensor `a`: data_offsets [0, 8] run past the end of the data (4 bytes)");
        row("overlapping ranges",
            file_bytes("{" + ok_tensor + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
            "tensors `a` and `b` overlap");
        row("overlap hidden behind an empty tensor",
            file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12),
            "tensors `a` and `b` overlap");
        row("shape that overflows",
            file_bytes(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
            "tensor `a`: shape [4294967296, 4294967296] is too large");
        row("metadata not strings", file_bytes(R"({"__metadata__":{"n":1}})", 0),
            "`__metadata__` value of `n` is not a string");
    }

    void malformedFilesAreRefused() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, error);
        const fs::path file = path("bad.safetensors");
        write(file, bytes.toStdString());
        expect_error([&] { SafetensorsFile::open(file); }, "bad.safetensors: " + error);
    }

    void missingFileIsAnError() {
        expect_error([&] { SafetensorsFile::open(path("absent.safetensors")); }, "absent.safetensors: cannot open");
    }

    void checkpointProblemsNameTheTensor() {
        expect_error(
            [&] {
                Model::load(edited_gpt2("missing", [](NamedTensors& t) {
                    std::erase_if(t, [](const auto& e) { return e.first == "transformer.h.1.mlp.c_fc.bias"; });
                }));
            },
            "tensor `transformer.h.1.mlp.c_fc.bias` is missing from the checkpoint");
        expect_error(
            [&] {
                Model::load(edited_gpt2("wrong-shape", [](NamedTensors& t) {
                    for (auto& [name, tensor] : t) {
                        if (name == "transformer.h.0.attn.c_attn.weight") tensor = tensor.t().contiguous();
                    }
                }));
            },
            "tensor `transformer.h.0.attn.c_attn.weight` has shape [192, 64], but config.json implies [64, 192]");
        expect_error(
            [&] {
                Model::load(edited_gpt2("int-weight", [](NamedTensors& t) {
                    for (auto& [name, tensor] : t) {
                        if (name == "transformer.ln_f.bias") tensor = tensor.to(at::kInt);
                    }
                }));
            },
            "tensor `transformer.ln_f.bias` has type Int, not a floating-point weight");
        expect_error(
            [&] {
                Model::load(edited_gpt2(
                    "untied-without-lm-head", [](NamedTensors&) {},
                    R"({"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":128,
                                        "vocab_size":512,"tie_word_embeddings":false})"));
            },
            "tensor `lm_head.weight` is missing");
    }

    // NaN and infinite weights load with a warning that names the tensor and counts
    // them; the model still runs. The -inf of masked attention scores is no warning.
    void nonFiniteWeightsLoadWithAWarning() {
        const auto clean = Model::load(kGpt2);
        QVERIFY(clean->load_warnings().empty());
        const auto cache = clean->run_with_cache({1, 2, 3}, NamesFilter("blocks.0.attn.hook_attn_scores"));
        QVERIFY(at::isinf(cache["blocks.0.attn.hook_attn_scores"]).any().item<bool>()); // masked, as it should be

        const auto model =
            Model::load(edited_gpt2("non-finite", test::non_finite_in("transformer.h.1.mlp.c_proj.weight")));
        QCOMPARE(model->load_warnings().size(), std::size_t(1));
        const std::string& warning = model->load_warnings().front();
        QVERIFY2(warning.find("model.safetensors: tensor `transformer.h.1.mlp.c_proj.weight` holds 1 NaN and 2 "
                              "infinite values of 16384") != std::string::npos,
                 warning.c_str());
        QCOMPARE(model->forward({1, 2, 3}).sizes().vec(), (std::vector<int64_t>{1, 3, 512}));
    }

    void halfPrecisionCheckpointComputesInFloat32() {
        const fs::path folder = edited_gpt2("f16", [](NamedTensors& t) {
            for (auto& entry : t)
                entry.second = entry.second.to(at::kHalf);
        });
        const auto model = Model::load(folder);
        const at::Tensor logits = model->forward({1, 2, 3});
        QCOMPARE(logits.scalar_type(), at::kFloat);
        const auto reference = Model::load(kGpt2)->forward({1, 2, 3});
        QVERIFY((logits - reference).abs().max().item<float>() < 0.05f); // f16 rounding of the weights only
    }

    void configProblems_data() {
        QTest::addColumn<QString>("config");
        QTest::addColumn<QString>("error");
        QTest::newRow("not JSON") << "{nope"
                                  << "config.json: not valid JSON";
        QTest::newRow("unsupported model type")
            << R"({"model_type":"bert"})"
            << "model_type `bert` is not supported (supported: gpt2, gpt_neox, llama";
        QTest::newRow("no model type") << R"({"n_layer":2})"
                                       << "no `model_type`";
        QTest::newRow("zero layers") << R"({"model_type":"gpt2","n_layer":0,"n_head":4,"n_embd":64,"vocab_size":8})"
                                     << "`n_layer` must be a positive integer up to 4096, got 0";
        QTest::newRow("absurd layer count")
            << R"({"model_type":"gpt2","n_layer":1000000000,"n_head":4,"n_embd":64,"vocab_size":8})"
            << "`n_layer` must be a positive integer up to 4096, got 1000000000";
        QTest::newRow("heads do not divide")
            << R"({"model_type":"gpt2","n_layer":1,"n_head":5,"n_embd":64,"vocab_size":8})"
            << "n_embd 64 is not a multiple of n_head 5";
        QTest::newRow("missing vocab") << R"({"model_type":"gpt2","n_layer":1,"n_head":4,"n_embd":64})"
                                       << "`vocab_size` is missing";
        QTest::newRow("unknown activation")
            << R"({"model_type":"gpt2","n_layer":1,"n_head":4,"n_embd":64,"vocab_size":8,"activation_function":"mish"})"
            << "activation_function `mish` is not supported";
        QTest::newRow("bool as string")
            << R"({"model_type":"gpt2","n_layer":1,"n_head":4,"n_embd":64,"vocab_size":8,"scale_attn_weights":"yes"})"
            << "`scale_attn_weights` must be true or false";
    }

    void configProblems() {
        QFETCH(QString, config);
        QFETCH(QString, error);
        const fs::path folder = path("config-" + std::to_string(qHash(config)));
        fs::create_directories(folder);
        std::ofstream(folder / "config.json") << config.toStdString();
        expect_error([&] { Model::load(folder); }, error);
    }

    void folderProblems() {
        expect_error([&] { Model::load(path("no-such-folder")); }, "config.json: no such file");
        const fs::path pickles = path("pickles");
        fs::create_directories(pickles);
        fs::copy_file(kGpt2 / "config.json", pickles / "config.json");
        write(pickles / "pytorch_model.bin", "PK\x03\x04 pretend pickle");
        expect_error([&] { Model::load(pickles); }, "does not load pickles");
        fs::remove(pickles / "pytorch_model.bin");
        expect_error([&] { Model::load(pickles); }, "no model.safetensors or model.safetensors.index.json");
    }

    void shardedCheckpoint() {
        const fs::path folder = path("sharded");
        fs::create_directories(folder);
        fs::copy_file(kGpt2 / "config.json", folder / "config.json");
        const auto original = SafetensorsFile::open(kGpt2 / "model.safetensors");
        NamedTensors first, second;
        {
            std::string index = R"({"metadata":{},"weight_map":{)";
            bool comma = false;
            for (const TensorInfo& info : original->tensors()) {
                const bool in_first = info.name.find(".h.1.") == std::string::npos;
                (in_first ? first : second).emplace_back(info.name, original->tensor(info.name));
                index += comma ? ",\"" : "\"";
                index += info.name;
                index +=
                    in_first ? "\":\"model-00001-of-00002.safetensors\"" : "\":\"model-00002-of-00002.safetensors\"";
                comma = true;
            }
            write(folder / "model.safetensors.index.json", index + "}}");
        }
        write_safetensors(folder / "model-00001-of-00002.safetensors", first);
        write_safetensors(folder / "model-00002-of-00002.safetensors", second);
        const auto sharded = Model::load(folder);
        const auto single = Model::load(kGpt2);
        QVERIFY(at::equal(sharded->forward({5, 6, 7}), single->forward({5, 6, 7})));
        QVERIFY(sharded->fingerprint() != single->fingerprint());
        QCOMPARE(sharded->fingerprint().size(), std::size_t(64));

        write(folder / "model.safetensors.index.json", R"({"weight_map":{"x":"../model.safetensors"}})");
        expect_error([&] { Model::load(folder); }, "which is not a file in the checkpoint folder");
        write(folder / "model.safetensors.index.json", R"({"weight_map":{"x":"gone.safetensors"}})");
        expect_error([&] { Model::load(folder); }, "gone.safetensors: cannot open");
    }

    void fingerprintIsStable() {
        const auto a = Checkpoint::open(kGpt2);
        const auto b = Checkpoint::open(kGpt2);
        QCOMPARE(a.fingerprint(), b.fingerprint());
        QCOMPARE(a.fingerprint().size(), std::size_t(64));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestSafetensors)

} // namespace tst_safetensors
#include "tst_safetensors.moc"
