// The local Hugging Face cache: hub ids resolved through refs/main and snapshot
// symlinks into blobs, listing, and clear messages for what is not there.

#include "bridge/core/errors.h"
#include "bridge/formats/hub_cache.h"
#include "bridge/model/model.h"
#include "support/error_text.h"
#include "support/test_main.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tst_hub_cache {

using namespace hookscope;
using hookscope::test::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kGpt2 = fs::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

// models--ORG--NAME with blobs, one snapshot per revision (files linked into blobs)
// and refs/main naming `main` (none when empty).
fs::path make_repo(const fs::path& root, const std::string& folder, const std::vector<std::string>& revisions,
                   const std::string& main) {
    const fs::path repo = root / folder;
    fs::create_directories(repo / "blobs");
    for (const char* name : {"config.json", "model.safetensors"})
        fs::copy_file(kGpt2 / name, repo / "blobs" / (std::string("blob-") + name), fs::copy_options::skip_existing);
    for (const std::string& revision : revisions) {
        const fs::path snapshot = repo / "snapshots" / revision;
        fs::create_directories(snapshot);
        for (const char* name : {"config.json", "model.safetensors"})
            fs::create_symlink(fs::path("../../blobs") / (std::string("blob-") + name), snapshot / name);
    }
    if (!main.empty()) {
        fs::create_directories(repo / "refs");
        std::ofstream(repo / "refs" / "main") << main << "\n";
    }
    return repo;
}

} // namespace

class TestHubCache : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    fs::path root_;

private slots:
    void initTestCase() {
        root_ = fs::path(dir_.path().toStdString()) / "hub";
        make_repo(root_, "models--org--tiny-gpt2", {"aaa111", "bbb222"}, "bbb222");
        make_repo(root_, "models--solo--one-snapshot", {"ccc333"}, "");
        make_repo(root_, "models--two--no-ref", {"d1", "d2"}, "");
        fs::create_directories(root_ / "datasets--org--data"); // not a model
        ::setenv("HF_HUB_CACHE", root_.c_str(), 1);
        ::unsetenv("HF_HOME");
        // ~/.cache/huggingface/hub is searched too: keep a real cache out of the test.
        ::setenv("HOME", (fs::path(dir_.path().toStdString()) / "home").c_str(), 1);
    }

    void resolvesThroughRefsMain() {
        const auto snapshot = find_cached_model("org/tiny-gpt2");
        QVERIFY(snapshot.has_value());
        QCOMPARE(*snapshot, root_ / "models--org--tiny-gpt2" / "snapshots" / "bbb222");
        // The symlinked files load as a checkpoint.
        const auto model = Model::load(resolve_model_folder("org/tiny-gpt2"));
        QCOMPARE(model->config().n_layers, 2);
        // Without refs/main, a single snapshot is taken; several are ambiguous.
        QCOMPARE(*find_cached_model("solo/one-snapshot"),
                 root_ / "models--solo--one-snapshot" / "snapshots" / "ccc333");
        QVERIFY(!find_cached_model("two/no-ref").has_value());
        for (const char* bad : {"noslash", "/abs/path", "a/b/c", "../x", "org/"})
            QVERIFY2(!find_cached_model(bad).has_value(), bad);
    }

    void listsEveryModel() {
        const auto models = list_cached_models();
        QCOMPARE(models.size(), std::size_t(2));
        QCOMPARE(models[0].id, std::string("org/tiny-gpt2"));
        QCOMPARE(models[0].architecture, std::string("GPT-2"));
        QCOMPARE(models[0].bytes, fs::file_size(kGpt2 / "config.json") + fs::file_size(kGpt2 / "model.safetensors"));
        QCOMPARE(models[1].id, std::string("solo/one-snapshot"));
    }

    void missingModelsSayWhereHookScopeLooked() {
        const QString message = error_of([] { resolve_model_folder("EleutherAI/pythia-70m"); });
        QVERIFY2(message.contains("not in the local Hugging Face cache") &&
                     message.contains(QString::fromStdString(root_.string())) && message.contains("never downloads"),
                 qPrintable(message));
        QVERIFY(error_of([] { resolve_model_folder("/no/such/folder"); }).contains("is not a folder"));
        // A folder wins over a hub id of the same spelling.
        QCOMPARE(resolve_model_folder(kGpt2.string()), kGpt2);
    }

    void hfHomeIsSearchedToo() {
        ::unsetenv("HF_HUB_CACHE");
        ::setenv("HF_HOME", dir_.path().toUtf8().constData(), 1); // $HF_HOME/hub = root_
        QVERIFY(find_cached_model("org/tiny-gpt2").has_value());
        ::setenv("HF_HUB_CACHE", root_.c_str(), 1);
        ::unsetenv("HF_HOME");
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestHubCache)

} // namespace tst_hub_cache
#include "tst_hub_cache.moc"
