#include "ui/hook_filter_proxy.h"

#include "ui/hook_tree_model.h"

namespace hookscope::ui {

HookFilterProxy::HookFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setRecursiveFilteringEnabled(true); // a group stays while a hook under it matches
}

void HookFilterProxy::set_names_filter(const NamesFilter& filter) {
    filter_ = filter;
    invalidateFilter();
}

bool HookFilterProxy::filterAcceptsRow(int source_row, const QModelIndex& source_parent) const {
    const QModelIndex index = sourceModel()->index(source_row, 0, source_parent);
    const QString name = index.data(HookTreeModel::HookNameRole).toString();
    if (name.isEmpty()) return filter_.matches_everything(); // a group: shown through its hooks
    return filter_.matches(name.toStdString());
}

} // namespace hookscope::ui
