#include "ui/intervention_list_model.h"

#include "bridge/core/errors.h"
#include "bridge/core/intervention_spec.h"

#include <QBrush>
#include <QColor>
#include <QJsonObject>

#include <algorithm>

namespace hookscope::ui {

std::optional<QString> intervention_problem(const QString& text, const InterventionLimits& limits) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty()) return QObject::tr("empty: write HOOK[@HEAD][:POSITIONS]=ACTION");
    try {
        const InterventionSpec spec = InterventionSpec::parse(trimmed.toStdString());
        if (spec.patches_from_pinned() && !limits.pinned) {
            return QObject::tr("intervention `%1`: no run is pinned to patch from (Run > Pin, Ctrl+P)").arg(trimmed);
        }
        if (limits.hooks.empty()) return std::nullopt; // no model: the text alone
        // Before the prompt is known, anything within the context is possible.
        const int64_t longest = limits.max_positions > 0 ? limits.max_positions : limits.n_ctx;
        const int64_t first = limits.first_pass_length > 0 ? limits.first_pass_length : longest;
        check_spec(resolved(spec, first), limits.hooks, first, longest);
        return std::nullopt;
    } catch (const Error& e) {
        return QString::fromStdString(e.what());
    }
}

std::optional<QString> with_steering_scale(const QString& text, double scale) {
    if (!steering_scale(text.trimmed().toStdString())) return std::nullopt;
    // FILE and KEY end at the first '*' after `add:`: from there on is the scale.
    const QString trimmed = text.trimmed();
    const qsizetype action = trimmed.indexOf(QStringLiteral("=add:"));
    const qsizetype star = trimmed.indexOf(u'*', action);
    return (star < 0 ? trimmed : trimmed.left(star)) + u'*' + QString::number(scale, 'g', 6);
}

QJsonArray intervention_rows_json(const std::vector<InterventionRow>& rows) {
    QJsonArray out;
    for (const InterventionRow& r : rows)
        out.append(QJsonObject{{"spec", r.text}, {"enabled", r.enabled}});
    return out;
}

std::vector<InterventionRow> intervention_rows_from_json(const QJsonArray& array) {
    std::vector<InterventionRow> rows;
    for (const QJsonValue& v : array) {
        const QJsonObject o = v.toObject();
        rows.push_back({o.value("spec").toString(), o.value("enabled").toBool(true)});
    }
    return rows;
}

InterventionListModel::InterventionListModel(QObject* parent) : QAbstractListModel(parent) {}

int InterventionListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

QVariant InterventionListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const Entry& e = entries_[static_cast<std::size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole: return e.row.text;
    case Qt::CheckStateRole: return e.row.enabled ? Qt::Checked : Qt::Unchecked;
    case Qt::ToolTipRole:
        return e.problem.isEmpty() ? (e.row.enabled ? tr("Applied to the next run") : tr("Off: not applied"))
                                   : e.problem;
    case Qt::ForegroundRole:
        if (!e.problem.isEmpty()) return QBrush(QColor(0xb0, 0x00, 0x20));
        return {};
    case ProblemRole: return e.problem;
    case EnabledRole: return e.row.enabled;
    default: return {};
    }
}

bool InterventionListModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return false;
    Entry& e = entries_[static_cast<std::size_t>(index.row())];
    if (role == Qt::EditRole) {
        e.row.text = value.toString().trimmed();
        check(e);
    } else if (role == Qt::CheckStateRole || role == EnabledRole) {
        e.row.enabled = role == EnabledRole ? value.toBool() : value.toInt() == Qt::Checked;
    } else {
        return false;
    }
    emit dataChanged(index, index);
    return true;
}

Qt::ItemFlags InterventionListModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsEditable | Qt::ItemIsUserCheckable |
           Qt::ItemNeverHasChildren;
}

bool InterventionListModel::removeRows(int row, int count, const QModelIndex& parent) {
    if (parent.isValid() || row < 0 || count <= 0 || row + count > rowCount()) return false;
    beginRemoveRows(parent, row, row + count - 1);
    entries_.erase(entries_.begin() + row, entries_.begin() + row + count);
    endRemoveRows();
    return true;
}

QModelIndex InterventionListModel::add(const InterventionRow& row) {
    const int at = rowCount();
    beginInsertRows({}, at, at);
    Entry e{row, {}};
    e.row.text = e.row.text.trimmed();
    check(e);
    entries_.push_back(std::move(e));
    endInsertRows();
    return index(at);
}

std::vector<InterventionRow> InterventionListModel::rows() const {
    std::vector<InterventionRow> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_)
        out.push_back(e.row);
    return out;
}

void InterventionListModel::set_rows(const std::vector<InterventionRow>& rows) {
    beginResetModel();
    entries_.clear();
    for (const InterventionRow& row : rows) {
        Entry e{row, {}};
        check(e);
        entries_.push_back(std::move(e));
    }
    endResetModel();
}

void InterventionListModel::set_limits(InterventionLimits limits) {
    limits_ = std::move(limits);
    for (Entry& e : entries_)
        check(e);
    if (!entries_.empty()) emit dataChanged(index(0), index(rowCount() - 1));
}

std::vector<std::string> InterventionListModel::applied() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) {
        if (e.row.enabled && e.problem.isEmpty()) out.push_back(e.row.text.toStdString());
    }
    return out;
}

int InterventionListModel::problem_count() const {
    return static_cast<int>(
        std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.problem.isEmpty(); }));
}

void InterventionListModel::check(Entry& entry) const {
    entry.problem = intervention_problem(entry.row.text, limits_).value_or(QString());
}

} // namespace hookscope::ui
