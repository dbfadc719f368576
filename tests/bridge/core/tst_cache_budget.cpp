// The cache size guard: estimates against hand-counted hook shapes, the limit, the
// suggestions it offers, and the size texts it reads and writes.

#include "bridge/core/cache_budget.h"
#include "bridge/core/model_config.h"
#include "bridge/core/system_memory.h"
#include "support/test_main.h"

#include <QtTest>

#include <algorithm>
#include <cmath>

namespace tst_cache_budget {

using namespace hookscope;

namespace {

// A small GPT-2: 2 blocks, d_model 8, 2 heads, d_mlp 32, vocabulary 50, context 16.
constexpr int64_t kLayers = 2, kDModel = 8, kHeads = 2, kDMlp = 32, kVocab = 50, kContext = 16;

std::vector<HookInfo> small_gpt2_hooks() {
    return hook_points_for(parse_model_config(
        R"({"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 8, "n_positions": 16, "vocab_size": 50})",
        "test"));
}

// Every hook point of that model over `p` positions, counted by hand from the hook
// table's shapes (bridge/core/hook_point.h), in bytes.
int64_t all_hooks_bytes(int64_t p) {
    const int64_t d = p * kDModel;
    // Per block: resid_pre, ln1 normalized, q, k, v, z, attn_out, resid_mid, ln2
    // normalized, mlp_out, resid_post (each p x d_model), two scales (p), scores and
    // pattern (heads x p x p), mlp pre and post (p x d_mlp).
    const int64_t block = 11 * d + 2 * p + 2 * kHeads * p * p + 2 * p * kDMlp;
    // Outside the blocks: embed, pos_embed, ln_final normalized, unembed input, the
    // final scale, and the logits.
    const int64_t outside = 4 * d + p + p * kVocab;
    return 4 * (kLayers * block + outside);
}

} // namespace

class TestCacheBudget : public QObject {
    Q_OBJECT

private slots:
    void estimateCountsEveryFloat32Element() {
        const auto hooks = small_gpt2_hooks();
        for (const int64_t p : {1, 7, 16})
            QCOMPARE(estimated_cache_bytes(hooks, NamesFilter(), p), all_hooks_bytes(p));
        // One hook_pattern at 10 positions: 2 heads x 10 x 10 floats.
        QCOMPARE(estimated_cache_bytes(hooks, NamesFilter("blocks.0.attn.hook_pattern"), 10), 2 * 10 * 10 * 4);
        QCOMPARE(estimated_cache_bytes(hooks, NamesFilter("hook_embed, blocks.0.ln1.hook_scale"), 7),
                 (7 * kDModel + 7) * 4);
        QCOMPARE(estimated_cache_bytes(hooks, NamesFilter("nothing.matches"), 7), 0);
    }

    void plannedPositionsStopAtTheContext() {
        QCOMPARE(planned_positions(5, 10, 100), 15);
        QCOMPARE(planned_positions(95, 10, 100), 100);
        QCOMPARE(planned_positions(100, 10, 100), 100);
        QCOMPARE(planned_positions(120, 10, 100), 120); // refused later, never negative
        QCOMPARE(planned_positions(5, 0, 100), 5);
    }

    void noLimitOrAFittingCacheIsNotStopped() {
        const auto hooks = small_gpt2_hooks();
        const auto bytes = static_cast<uint64_t>(all_hooks_bytes(12));
        QVERIFY(!check_cache_size(hooks, NamesFilter(), 12, std::nullopt));
        QVERIFY(!check_cache_size(hooks, NamesFilter(), 12, CacheLimit{bytes, std::nullopt})); // exactly fits
        QVERIFY(check_cache_size(hooks, NamesFilter(), 12, CacheLimit{bytes - 1, std::nullopt}));
    }

    void tooLargeSaysWhatAndOffersFiltersThatFit() {
        const auto hooks = small_gpt2_hooks();
        const int64_t p = 12;
        const int64_t resid_post = kLayers * p * kDModel * 4;
        const int64_t patterns = kLayers * kHeads * p * p * 4;
        const auto limit = static_cast<uint64_t>(std::max(resid_post, patterns)); // both fit, block 1 does not
        const auto too_large = check_cache_size(hooks, NamesFilter(), p, CacheLimit{limit, std::nullopt});
        QVERIFY(too_large);
        QCOMPARE(too_large->bytes, all_hooks_bytes(p));
        QCOMPARE(too_large->positions, p);
        QCOMPARE(too_large->hook_points, static_cast<int64_t>(hooks.size()));
        QCOMPARE(too_large->suggestions.size(), std::size_t{2});
        QCOMPARE(too_large->suggestions[0].filter, std::string("*hook_resid_post"));
        QCOMPARE(too_large->suggestions[0].bytes, resid_post);
        QCOMPARE(too_large->suggestions[1].filter, std::string("blocks.*.attn.hook_pattern"));
        QCOMPARE(too_large->suggestions[1].bytes, patterns);

        // A generous limit that the whole cache still passes offers the last block too.
        const auto roomy = check_cache_size(hooks, NamesFilter(), p,
                                            CacheLimit{static_cast<uint64_t>(all_hooks_bytes(p) - 1), std::nullopt});
        QCOMPARE(roomy->suggestions.size(), std::size_t{3});
        QCOMPARE(roomy->suggestions[2].filter, std::string("blocks.1.*"));
        // A limit nothing fits offers nothing.
        QVERIFY(check_cache_size(hooks, NamesFilter(), p, CacheLimit{10, std::nullopt})->suggestions.empty());
        // Only the hooks the filter selects count.
        const auto mlp = check_cache_size(hooks, NamesFilter("*mlp*"), p, CacheLimit{10, std::nullopt});
        QCOMPARE(mlp->hook_points, kLayers * 3); // mlp.hook_pre, mlp.hook_post, hook_mlp_out
    }

    void describeNamesSizesAndTheirSource() {
        CacheTooLarge t{3'200'000'000, 96, 300, share_of_available(3'300'000'001), {}};
        QCOMPARE(t.limit.bytes, uint64_t{1'650'000'000});
        QCOMPARE(QString::fromStdString(t.describe()),
                 QString("the cache would take 3.2 GB (96 hook points over 300 positions), more than the limit of "
                         "1.6 GB (half of the 3.3 GB of memory available)"));
        t.limit = CacheLimit{500'000'000, std::nullopt};
        t.hook_points = 1;
        QCOMPARE(QString::fromStdString(t.describe()),
                 QString("the cache would take 3.2 GB (1 hook point over 300 positions), more than the limit of "
                         "500.0 MB"));
    }

    void defaultLimitIsHalfOfWhatIsAvailable() {
        const auto available = available_memory_bytes();
        const auto limit = default_cache_limit();
        QCOMPARE(limit.has_value(), available.has_value());
        if (!limit) QSKIP("no /proc/meminfo here");
        QVERIFY(limit->available);
        // Memory moves between the two reads; the limit is half of what was read.
        QCOMPARE(limit->bytes, *limit->available / 2);
        QVERIFY(*limit->available > 0);
    }

    // Memory the process holds for reuse counts as available: the counter's bytes are
    // added to what the system reports. MemAvailable itself drifts between reads (its
    // counters are updated about once a second), far less than the 1 TiB counted here.
    void memoryHeldForReuseCountsAsAvailable() {
        const auto without = available_memory_bytes();
        if (!without) QSKIP("no /proc/meminfo here");
        set_memory_held_for_reuse([]() -> std::size_t { return std::size_t{1} << 40; });
        const auto with = available_memory_bytes();
        set_memory_held_for_reuse(nullptr);
        QVERIFY(with);
        const double added = static_cast<double>(*with) - static_cast<double>(*without);
        QVERIFY2(std::abs(added - static_cast<double>(uint64_t{1} << 40)) < 1e9, qPrintable(QString::number(added)));
    }

    // Aligned to 2 MiB, zeroed, writable to its last byte, and given back.
    void hugePageMemoryIsAlignedAndZeroed() {
        for (const std::size_t bytes : {std::size_t{1}, std::size_t{4097}, (std::size_t{2} << 20) + 5}) {
            auto* p = static_cast<unsigned char*>(map_huge_pages(bytes));
            QCOMPARE(reinterpret_cast<uintptr_t>(p) % (uintptr_t{2} << 20), uintptr_t{0});
            QVERIFY(std::all_of(p, p + bytes, [](unsigned char c) { return c == 0; }));
            p[bytes - 1] = 7;
            QCOMPARE(p[bytes - 1], static_cast<unsigned char>(7));
            unmap_huge_pages(p, bytes);
        }
    }

    void byteSizeText() {
        QCOMPARE(byte_size_text(0), std::string("0 B"));
        QCOMPARE(byte_size_text(999), std::string("999 B"));
        QCOMPARE(byte_size_text(1000), std::string("1.0 KB"));
        QCOMPARE(byte_size_text(3'400), std::string("3.4 KB"));
        QCOMPARE(byte_size_text(999'960), std::string("1.0 MB")); // never "1000.0 KB"
        QCOMPARE(byte_size_text(890'292'224), std::string("890.3 MB"));
        QCOMPARE(byte_size_text(2'500'000'000), std::string("2.5 GB"));
        QCOMPARE(byte_size_text(UINT64_MAX), std::string("18.4 EB"));
    }

    void parseByteSize_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<qulonglong>("bytes");
        QTest::addColumn<bool>("valid");
        QTest::newRow("plain") << "4096" << 4096ULL << true;
        QTest::newRow("bytes") << "12B" << 12ULL << true;
        QTest::newRow("kilo") << "2kb" << 2000ULL << true;
        QTest::newRow("mega") << "500M" << 500'000'000ULL << true;
        QTest::newRow("giga fraction") << "1.5GB" << 1'500'000'000ULL << true;
        QTest::newRow("giga lower") << "8g" << 8'000'000'000ULL << true;
        QTest::newRow("tera") << "2T" << 2'000'000'000'000ULL << true;
        QTest::newRow("zero") << "0" << 0ULL << true;
        QTest::newRow("empty") << "" << 0ULL << false;
        QTest::newRow("negative") << "-1G" << 0ULL << false;
        QTest::newRow("unit alone") << "M" << 0ULL << false;
        QTest::newRow("unknown unit") << "5X" << 0ULL << false;
        QTest::newRow("binary unit") << "5MiB" << 0ULL << false;
        QTest::newRow("space") << "5 M" << 0ULL << false;
        QTest::newRow("past 2^64") << "20000000000000000000" << 0ULL << false;
        QTest::newRow("huge") << "1e30G" << 0ULL << false;
        QTest::newRow("nan") << "nan" << 0ULL << false;
        QTest::newRow("inf") << "inf" << 0ULL << false;
    }

    void parseByteSize() {
        QFETCH(QString, text);
        QFETCH(qulonglong, bytes);
        QFETCH(bool, valid);
        const auto parsed = parse_byte_size(text.toStdString());
        QCOMPARE(parsed.has_value(), valid);
        if (valid) QCOMPARE(static_cast<qulonglong>(*parsed), bytes);
    }
};

HOOKSCOPE_TEST_APPLESS_MAIN(TestCacheBudget)

} // namespace tst_cache_budget
#include "tst_cache_budget.moc"
