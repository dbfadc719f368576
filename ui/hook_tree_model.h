#pragma once
// The hook points of a model or of a captured cache as a tree: top-level hooks
// (hook_embed), then groups by level (blocks.N, and inside a block attn, mlp, ln1,
// ln2), then the hook points themselves. Columns: name, shape, size and, once
// computed, statistics of each captured tensor.

#include "bridge/analysis/view_data.h"

#include <QAbstractItemModel>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookscope::ui {

// One hook point: its name, its shape (-1 for the sequence axis when no run has fixed
// it) and, for a captured tensor, its bytes.
struct HookEntry {
    std::string name;
    std::vector<int64_t> shape;
    int64_t bytes = -1; // -1: not captured
};

class HookTreeModel : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column { Name, Shape, Size, Min, Max, Mean, Norm, ColumnCount };
    enum Role {
        HookNameRole = Qt::UserRole + 1, // full hook name of a hook row; empty for a group
        EntryIndexRole,                  // index into entries(), -1 for a group
    };

    explicit HookTreeModel(QObject* parent = nullptr);
    ~HookTreeModel() override;

    // Replaces every row; statistics are cleared.
    void set_entries(std::vector<HookEntry> entries);
    const std::vector<HookEntry>& entries() const { return entries_; }
    // Statistics per entry, in entries() order (missing ones stay blank).
    void set_stats(const std::vector<std::optional<TensorStats>>& stats);

    // The index of the row of hook `name`, or an invalid index.
    QModelIndex index_of(const std::string& name) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Node;
    Node* node_of(const QModelIndex& index) const;

    std::vector<HookEntry> entries_;
    std::vector<std::optional<TensorStats>> stats_;
    std::unique_ptr<Node> root_;
};

// The groups a hook name falls in, then its own label: "blocks.3.attn.hook_q" gives
// {"blocks.3", "attn", "hook_q"}; "hook_embed" gives {"hook_embed"}; a name that is
// not a hook point falls in "other", whole.
std::vector<std::string> hook_path(const std::string& name);

// "512 B", "3.4 KB", "1.2 MB", "2.0 GB".
QString byte_text(int64_t bytes);

// A statistic in a narrow column: three significant digits, written out from 0.001 to
// 99999 ("-4.57", "0.0123", "1234") and with a short exponent beyond ("1.23e-5").
QString stat_text(double value);

} // namespace hookscope::ui
