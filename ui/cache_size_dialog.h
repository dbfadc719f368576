#pragma once
// Asked before a run whose capture would pass the cache limit: capture the smaller
// filter suggested, edit the filter, capture anyway, or cancel. Window-modal (open()
// it, never exec()), and it deletes itself once closed.

#include "bridge/core/cache_budget.h"

#include <QMessageBox>

namespace hookscope::ui {

class CacheSizeDialog : public QMessageBox {
    Q_OBJECT

public:
    CacheSizeDialog(const CacheTooLarge& too_large, QWidget* parent);

signals:
    void captureSuggested(const QString& filter);
    void editFilter();
    void captureAnyway();
};

} // namespace hookscope::ui
