#pragma once
// The hook tree filtered by a names filter (bridge/core/names_filter.h): a hook row shows when
// its full name matches; a group shows when any hook under it does.

#include "bridge/core/names_filter.h"

#include <QSortFilterProxyModel>

namespace hookscope::ui {

class HookFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT

public:
    explicit HookFilterProxy(QObject* parent = nullptr);

    void set_names_filter(const NamesFilter& filter);
    const NamesFilter& names_filter() const { return filter_; }

protected:
    bool filterAcceptsRow(int source_row, const QModelIndex& source_parent) const override;

private:
    NamesFilter filter_;
};

} // namespace hookscope::ui
