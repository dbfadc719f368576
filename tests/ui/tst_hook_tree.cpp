// The hook tree model and its names-filter proxy, under QAbstractItemModelTester.

#include "bridge/core/hook_point.h"
#include "bridge/core/model_config.h"
#include "support/test_main.h"
#include "ui/cache_data.h"
#include "ui/hook_filter_proxy.h"
#include "ui/hook_tree_model.h"
#include "ui/prompt_panel.h"

#include <QAbstractItemModelTester>
#include <QtTest>

#include <limits>

namespace tst_hook_tree {

using namespace hookscope;
using namespace hookscope::ui;

namespace {

// GPT-2 small's hook table: 12 blocks.
std::vector<HookInfo> gpt2_hooks(int layers = 12) {
    const ModelConfig c =
        parse_model_config(R"({"model_type": "gpt2", "n_layer": )" + std::to_string(layers) +
                               R"(, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257})",
                           "test");
    return hook_points_for(c);
}

// Hook names of the rows under `parent` (depth first), as the view would show them.
void collect(const QAbstractItemModel& m, const QModelIndex& parent, QStringList& out) {
    for (int r = 0; r < m.rowCount(parent); ++r) {
        const QModelIndex i = m.index(r, 0, parent);
        const QString name = i.data(HookTreeModel::HookNameRole).toString();
        if (!name.isEmpty()) out << name;
        collect(m, i, out);
    }
}

} // namespace

class TestHookTree : public QObject {
    Q_OBJECT

private slots:
    void hookPathGroupsByLevel() {
        QCOMPARE(hook_path("blocks.3.attn.hook_q"), (std::vector<std::string>{"blocks.3", "attn", "hook_q"}));
        QCOMPARE(hook_path("blocks.11.hook_resid_pre"), (std::vector<std::string>{"blocks.11", "hook_resid_pre"}));
        QCOMPARE(hook_path("hook_embed"), (std::vector<std::string>{"hook_embed"}));
        QCOMPARE(hook_path("ln_final.hook_scale"), (std::vector<std::string>{"ln_final", "hook_scale"}));
        QCOMPARE(hook_path("probe.weights"), (std::vector<std::string>{"other", "probe.weights"}));
        QCOMPARE(byte_text(512), QString("512 B"));
        QCOMPARE(byte_text(3'400), QString("3.4 KB"));
        QCOMPARE(byte_text(890'292'224), QString("890.3 MB"));
    }

    void statisticsShowThreeSignificantDigits() {
        QCOMPARE(stat_text(-4.5678), QString("-4.57"));
        QCOMPARE(stat_text(0.012345), QString("0.0123"));
        QCOMPARE(stat_text(0.001), QString("0.001"));
        QCOMPARE(stat_text(1.5), QString("1.5"));
        QCOMPARE(stat_text(0), QString("0"));
        QCOMPARE(stat_text(999.4), QString("999"));
        QCOMPARE(stat_text(999.7), QString("1000")); // not "1e+03"
        QCOMPARE(stat_text(12345.6), QString("12346"));
        QCOMPARE(stat_text(-5.4231e-5), QString("-5.42e-5"));
        QCOMPARE(stat_text(0.00098765), QString("9.88e-4"));
        QCOMPARE(stat_text(2.5e7), QString("2.50e7"));
        QCOMPARE(stat_text(std::numeric_limits<double>::quiet_NaN()), QString("nan"));
        QCOMPARE(stat_text(-std::numeric_limits<double>::infinity()), QString("-inf"));
    }

    void treeHoldsEveryHookOnce() {
        HookTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const std::vector<HookInfo> hooks = gpt2_hooks();
        model.set_entries(hook_entries(hooks));
        // Top level: hook_embed, hook_pos_embed, blocks.0..11, ln_final, unembed.
        QCOMPARE(model.rowCount(), 2 + 12 + 2);
        QCOMPARE(model.index(2, 0).data().toString(), QString("blocks.0"));
        QStringList names;
        collect(model, {}, names);
        QCOMPARE(names.size(), static_cast<qsizetype>(hooks.size()));
        for (std::size_t i = 0; i < hooks.size(); ++i)
            QCOMPARE(names[static_cast<qsizetype>(i)], QString::fromStdString(hooks[i].name)); // execution order
        const QModelIndex pattern = model.index_of("blocks.3.attn.hook_pattern");
        QVERIFY(pattern.isValid());
        QCOMPARE(pattern.data().toString(), QString("hook_pattern"));
        QCOMPARE(pattern.parent().data().toString(), QString("attn"));
        QCOMPARE(pattern.parent().parent().data().toString(), QString("blocks.3"));
        QCOMPARE(pattern.siblingAtColumn(HookTreeModel::Shape).data().toString(), QString("[1, 12, pos, pos]"));
        QVERIFY(!model.index_of("blocks.3.attn").isValid()); // a group, not a hook

        // Statistics fill their columns.
        std::vector<std::optional<TensorStats>> stats(hooks.size());
        stats[0] = TensorStats{-1.5, 2.25, 0.125, 10};
        model.set_stats(stats);
        QCOMPARE(model.index(0, HookTreeModel::Min).data().toString(), QString("-1.5"));
        QCOMPARE(model.index(0, HookTreeModel::Max).data().toString(), QString("2.25"));
        QCOMPARE(model.index(0, HookTreeModel::Norm).data().toString(), QString("10"));
        QVERIFY(!model.index(1, HookTreeModel::Min).data().isValid());
    }

    void filterLeavesExactlyTheMatchingHooks() {
        HookTreeModel model;
        HookFilterProxy proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const std::vector<HookInfo> hooks = gpt2_hooks();
        model.set_entries(hook_entries(hooks));
        for (const char* text : {"blocks.*.attn.hook_pattern", "/resid_(pre|post)$/, hook_embed", "ln_final.*",
                                 "blocks.1?.hook_mlp_out", "no_such_hook", ""}) {
            const NamesFilter filter(text);
            proxy.set_names_filter(filter);
            QStringList shown, expected;
            collect(proxy, {}, shown);
            for (const HookInfo& h : hooks) {
                if (filter.matches(h.name)) expected << QString::fromStdString(h.name);
            }
            QCOMPARE(shown, expected);
            // No empty groups: every top-level row leads to a shown hook.
            for (int r = 0; r < proxy.rowCount(); ++r) {
                QStringList under;
                const QModelIndex i = proxy.index(r, 0);
                collect(proxy, i, under);
                QVERIFY(!i.data(HookTreeModel::HookNameRole).toString().isEmpty() || !under.isEmpty());
            }
        }
    }

    void tokenIdsParse() {
        QString error;
        QCOMPARE(parse_token_ids("50256 464, 2068", &error), (std::optional<std::vector<int64_t>>{{50256, 464, 2068}}));
        QVERIFY(!parse_token_ids("1 two 3", &error));
        QCOMPARE(error, QString("token id `two` is not a non-negative integer"));
        QVERIFY(!parse_token_ids(" , ", &error));
        QVERIFY(!parse_token_ids("-4", &error));
    }
};

HOOKSCOPE_TEST_MAIN(TestHookTree)

} // namespace tst_hook_tree
#include "tst_hook_tree.moc"
