// The block pool behind LibTorch's CPU allocator: large blocks freed by one pass serve
// the next without new memory, small ones are left to LibTorch, the held bytes stay
// under the cap, and a forward on reused blocks gives the same numbers as on fresh ones.

#include "bridge/model/block_pool.h"
#include "bridge/model/model.h"
#include "support/test_main.h"

#include <ATen/ATen.h>
#include <QtTest>

#include <filesystem>

namespace tst_block_pool {

using namespace hookscope;

namespace {

const std::filesystem::path kGpt2 = std::filesystem::path(HOOKSCOPE_FIXTURES) / "golden" / "gpt2-tiny";

constexpr int64_t kFloatsPooled = static_cast<int64_t>(block_pool::kSmallestPooled / sizeof(float));

} // namespace

class TestBlockPool : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        block_pool::install();
        QVERIFY(block_pool::installed());
        block_pool::install(); // a second call changes nothing
    }

    void init() { block_pool::release_pooled_memory(); }

    void aFreedBlockServesTheNextOfItsSize() {
        const void* first = nullptr;
        {
            at::Tensor a = at::empty({kFloatsPooled * 3});
            first = a.data_ptr();
            a.fill_(2.0f);
        }
        QCOMPARE(block_pool::free_bytes(), 3 * block_pool::kSmallestPooled);
        at::Tensor b = at::empty({kFloatsPooled * 3});
        QCOMPARE(b.data_ptr(), first);
        QCOMPARE(block_pool::free_bytes(), std::size_t{0});
        // A slightly smaller request takes the same block; a much smaller one does not.
        b.reset();
        at::Tensor c = at::empty({kFloatsPooled * 3 - 1000});
        QCOMPARE(c.data_ptr(), first);
        c.reset();
        at::Tensor d = at::empty({kFloatsPooled * 2});
        QVERIFY(d.data_ptr() != first);
        QCOMPARE(block_pool::free_bytes(), 3 * block_pool::kSmallestPooled);
    }

    void smallBlocksAreNotHeld() {
        { at::Tensor small = at::empty({kFloatsPooled / 2}); }
        QCOMPARE(block_pool::free_bytes(), std::size_t{0});
    }

    void releaseGivesEverythingBack() {
        { at::Tensor a = at::empty({kFloatsPooled * 4}); }
        QVERIFY(block_pool::free_bytes() > 0);
        block_pool::release_pooled_memory();
        QCOMPARE(block_pool::free_bytes(), std::size_t{0});
    }

    void heldBytesStayUnderTheCap() {
        const std::size_t cap = block_pool::retained_cap();
        QVERIFY(cap > 0);
        QVERIFY(cap <= std::size_t{4} << 30);
        // Two blocks of 60% of the cap each: the second freed does not fit beside the first.
        const int64_t floats = static_cast<int64_t>(cap / 10 * 6 / sizeof(float));
        {
            at::Tensor a = at::empty({floats});
            at::Tensor b = at::empty({floats});
        }
        QVERIFY(block_pool::free_bytes() <= cap);
        QVERIFY(block_pool::free_bytes() >= static_cast<std::size_t>(floats) * sizeof(float));
    }

    // Blocks come back holding the last pass's values: nothing may read memory it did
    // not write. A batch of full-context sequences (blocks of megabytes) on fresh
    // memory, then again on reused blocks filled with NaN: bit for bit equal.
    void reusedBlocksChangeNoResult() {
        const auto model = Model::load(kGpt2, Precision::Float32);
        const int64_t batch = 8, positions = model->config().n_ctx;
        const at::Tensor tokens =
            at::arange(batch * positions, at::kLong).remainder(model->config().d_vocab).view({batch, positions});
        block_pool::release_pooled_memory();
        const at::Tensor fresh = model->forward_batch(tokens, 0);
        QVERIFY(fresh.nbytes() >= block_pool::kSmallestPooled); // the pass goes through the pool
        QVERIFY(block_pool::free_bytes() > 0);
        block_pool::poison_free_blocks();
        const at::Tensor reused = model->forward_batch(tokens, 0);
        QVERIFY(at::isfinite(reused).all().item<bool>());
        QVERIFY(at::equal(fresh, reused));
    }
};

HOOKSCOPE_TEST_GUILESS_MAIN(TestBlockPool)

} // namespace tst_block_pool
#include "tst_block_pool.moc"
