#include "ui/cache_size_dialog.h"

#include "bridge/core/system_memory.h"

#include <QPushButton>

namespace hookscope::ui {

namespace {

QString bytes_text(int64_t bytes) {
    return QString::fromStdString(byte_size_text(static_cast<uint64_t>(bytes)));
}

} // namespace

CacheSizeDialog::CacheSizeDialog(const CacheTooLarge& too_large, QWidget* parent)
    : QMessageBox(QMessageBox::Warning, tr("HookScope"),
                  tr("This run would capture %1 of activations.").arg(bytes_text(too_large.bytes)),
                  QMessageBox::NoButton, parent) {
    setObjectName("cacheSizeDialog");
    setAttribute(Qt::WA_DeleteOnClose);
    setInformativeText(QString::fromStdString(too_large.describe()) + ".\n\n" +
                       tr("Capturing fewer hook points keeps the machine from swapping."));
    if (!too_large.suggestions.empty()) {
        const FilterSuggestion& s = too_large.suggestions.front();
        const QString suggested = QString::fromStdString(s.filter);
        QPushButton* smaller =
            addButton(tr("Capture %1 (%2)").arg(suggested, bytes_text(s.bytes)), QMessageBox::AcceptRole);
        smaller->setObjectName("captureSuggested");
        connect(smaller, &QPushButton::clicked, this, [this, suggested] { emit captureSuggested(suggested); });
    }
    QPushButton* edit = addButton(tr("Edit Filter…"), QMessageBox::ActionRole);
    edit->setObjectName("editFilter");
    connect(edit, &QPushButton::clicked, this, &CacheSizeDialog::editFilter);
    QPushButton* anyway = addButton(tr("Capture Anyway"), QMessageBox::DestructiveRole);
    anyway->setObjectName("captureAnyway");
    connect(anyway, &QPushButton::clicked, this, &CacheSizeDialog::captureAnyway);
    setDefaultButton(addButton(QMessageBox::Cancel));
}

} // namespace hookscope::ui
