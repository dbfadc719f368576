#include "ui/hook_tree_model.h"

#include "bridge/core/hook_point.h"
#include "bridge/core/shape_text.h"
#include "bridge/core/system_memory.h"

#include <QStringList>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace hookscope::ui {

struct HookTreeModel::Node {
    QString label;
    int entry = -1; // index into entries_, -1 for a group
    Node* parent = nullptr;
    int row = 0;
    std::vector<std::unique_ptr<Node>> children;

    Node* child(const QString& name) {
        for (const auto& c : children) {
            if (c->entry < 0 && c->label == name) return c.get();
        }
        return nullptr;
    }
    Node* add(QString name, int entry_index) {
        auto node = std::make_unique<Node>();
        node->label = std::move(name);
        node->entry = entry_index;
        node->parent = this;
        node->row = static_cast<int>(children.size());
        children.push_back(std::move(node));
        return children.back().get();
    }
};

std::vector<std::string> hook_path(const std::string& name) {
    if (!HookPoint::parse(name)) return {"other", name}; // a file's own tensors
    std::vector<std::string> parts;
    std::size_t begin = 0;
    while (begin <= name.size()) {
        const std::size_t dot = name.find('.', begin);
        parts.push_back(name.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin));
        if (dot == std::string::npos) break;
        begin = dot + 1;
    }
    // "blocks" and its layer number make one level.
    if (parts.size() > 2 && parts[0] == "blocks" && !parts[1].empty() &&
        std::all_of(parts[1].begin(), parts[1].end(), [](unsigned char c) { return std::isdigit(c); })) {
        parts[1] = parts[0] + "." + parts[1];
        parts.erase(parts.begin());
    }
    return parts;
}

QString byte_text(int64_t bytes) {
    return QString::fromStdString(byte_size_text(static_cast<uint64_t>(std::max<int64_t>(bytes, 0))));
}

QString stat_text(double v) {
    if (std::isnan(v)) return QStringLiteral("nan");
    if (std::isinf(v)) return v < 0 ? QStringLiteral("-inf") : QStringLiteral("inf");
    const double a = std::abs(v);
    if (a == 0) return QStringLiteral("0");
    // From 999.5, three significant digits would round to an exponent ("1e+03").
    if (a >= 999.5 && a < 1e5) return QString::number(v, 'f', 0);
    if (a >= 1e-3 && a < 999.5) return QString::number(v, 'g', 3);
    // "1.23e-05" reads the same as "1.23e-5", two characters narrower.
    QString text = QString::number(v, 'e', 2);
    const qsizetype e = text.indexOf('e');
    QString exponent = text.mid(e + 1);
    const bool negative = exponent.startsWith('-');
    exponent.remove(0, 1); // the sign, always written by 'e'
    while (exponent.size() > 1 && exponent.startsWith('0'))
        exponent.remove(0, 1);
    return text.left(e + 1) + (negative ? "-" : "") + exponent;
}

HookTreeModel::HookTreeModel(QObject* parent) : QAbstractItemModel(parent), root_(std::make_unique<Node>()) {}

HookTreeModel::~HookTreeModel() = default;

void HookTreeModel::set_entries(std::vector<HookEntry> entries) {
    beginResetModel();
    entries_ = std::move(entries);
    stats_.assign(entries_.size(), std::nullopt);
    root_ = std::make_unique<Node>();
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const std::vector<std::string> path = hook_path(entries_[i].name);
        Node* at = root_.get();
        for (std::size_t k = 0; k + 1 < path.size(); ++k) {
            const QString group = QString::fromStdString(path[k]);
            Node* next = at->child(group);
            at = next ? next : at->add(group, -1);
        }
        at->add(QString::fromStdString(path.back()), static_cast<int>(i));
    }
    endResetModel();
}

void HookTreeModel::set_stats(const std::vector<std::optional<TensorStats>>& stats) {
    if (stats.size() != entries_.size()) return; // for another set of entries
    stats_ = stats;
    // Every row's statistic columns changed: one signal per parent.
    std::vector<const Node*> pending{root_.get()};
    while (!pending.empty()) {
        const Node* n = pending.back();
        pending.pop_back();
        if (n->children.empty()) continue;
        const QModelIndex parent = n == root_.get() ? QModelIndex() : createIndex(n->row, 0, const_cast<Node*>(n));
        emit dataChanged(index(0, Min, parent), index(static_cast<int>(n->children.size()) - 1, Norm, parent));
        for (const auto& c : n->children)
            pending.push_back(c.get());
    }
}

HookTreeModel::Node* HookTreeModel::node_of(const QModelIndex& index) const {
    return index.isValid() ? static_cast<Node*>(index.internalPointer()) : root_.get();
}

QModelIndex HookTreeModel::index_of(const std::string& name) const {
    const std::vector<std::string> path = hook_path(name);
    const Node* at = root_.get();
    for (const std::string& part : path) {
        const QString label = QString::fromStdString(part);
        const auto it =
            std::find_if(at->children.begin(), at->children.end(), [&](const auto& c) { return c->label == label; });
        if (it == at->children.end()) return {};
        at = it->get();
    }
    if (at->entry < 0) return {};
    return createIndex(at->row, 0, const_cast<Node*>(at));
}

QModelIndex HookTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (!hasIndex(row, column, parent)) return {};
    Node* p = node_of(parent);
    return createIndex(row, column, p->children[static_cast<std::size_t>(row)].get());
}

QModelIndex HookTreeModel::parent(const QModelIndex& child) const {
    if (!child.isValid()) return {};
    const Node* p = node_of(child)->parent;
    if (!p || p == root_.get()) return {};
    return createIndex(p->row, 0, const_cast<Node*>(p));
}

int HookTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() && parent.column() != 0) return 0;
    return static_cast<int>(node_of(parent)->children.size());
}

int HookTreeModel::columnCount(const QModelIndex&) const {
    return ColumnCount;
}

QVariant HookTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    const Node* n = node_of(index);
    if (role == HookNameRole) return n->entry < 0 ? QString() : QString::fromStdString(entries_[n->entry].name);
    if (role == EntryIndexRole) return n->entry;
    if (role == Qt::TextAlignmentRole && index.column() >= Size) {
        return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
    }
    if (role == Qt::ToolTipRole && n->entry >= 0) {
        // A statistic's tooltip gives it in full: the cell shows three significant digits.
        const std::optional<TensorStats>& s = stats_[static_cast<std::size_t>(n->entry)];
        const auto full = [](double v) { return QString::number(v, 'g', 8); };
        switch (index.column()) {
        case Min: return s ? full(s->min) : QVariant();
        case Max: return s ? full(s->max) : QVariant();
        case Mean: return s ? full(s->mean) : QVariant();
        case Norm: return s ? full(s->l2_norm) : QVariant();
        default: return QString::fromStdString(entries_[n->entry].name);
        }
    }
    if (role != Qt::DisplayRole) return {};
    if (index.column() == Name) return n->label;
    if (n->entry < 0) return {};
    const HookEntry& e = entries_[static_cast<std::size_t>(n->entry)];
    const std::optional<TensorStats>& s = stats_[static_cast<std::size_t>(n->entry)];
    switch (index.column()) {
    case Shape: return QString::fromStdString(shape_text(e.shape));
    case Size: return e.bytes < 0 ? QVariant() : byte_text(e.bytes);
    case Min: return s ? stat_text(s->min) : QVariant();
    case Max: return s ? stat_text(s->max) : QVariant();
    case Mean: return s ? stat_text(s->mean) : QVariant();
    case Norm: return s ? stat_text(s->l2_norm) : QVariant();
    default: return {};
    }
}

QVariant HookTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole && section == Norm) return tr("L2 norm of the whole tensor");
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Hook point");
    case Shape: return tr("Shape");
    case Size: return tr("Size");
    case Min: return tr("Min");
    case Max: return tr("Max");
    case Mean: return tr("Mean");
    case Norm: return tr("L2");
    default: return {};
    }
}

} // namespace hookscope::ui
