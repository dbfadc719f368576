#include "ui/run_compare.h"

#include "bridge/analysis/view_data.h"
#include "bridge/model/activation_cache.h"

#include <algorithm>

namespace hookscope::ui {

CompareBox::CompareBox(QWidget* parent) : QComboBox(parent) {
    setObjectName("compareRuns");
    addItem(tr("This run"), static_cast<int>(CompareMode::Current));
    addItem(tr("Pinned run"), static_cast<int>(CompareMode::Pinned));
    addItem(tr("This − pinned"), static_cast<int>(CompareMode::Difference));
    addItem(tr("Side by side"), static_cast<int>(CompareMode::SideBySide));
    setToolTip(tr("Compare with the pinned run (Run > Pin this run)"));
    hide();
}

at::Tensor compared_tensor(const std::string& name, CompareMode mode, const ActivationCache& current,
                           const ActivationCache* pinned, const QStringList& labels, const QStringList& pinned_labels,
                           Compared& out) {
    const RunChoice choice = !pinned                           ? RunChoice::Current
                             : mode == CompareMode::Pinned     ? RunChoice::Pinned
                             : mode == CompareMode::Difference ? RunChoice::Difference
                                                               : RunChoice::Current;
    at::Tensor shown = chosen_tensor(name, choice, current, pinned);
    out = {labels, {}};
    if (choice == RunChoice::Pinned) {
        out = {pinned_labels, QObject::tr("pinned run")};
    } else if (choice == RunChoice::Difference) {
        const auto a = static_cast<int64_t>(current.tokens().size()), b = static_cast<int64_t>(pinned->tokens().size());
        const int64_t common = std::min(a, b);
        out.labels = labels.mid(0, static_cast<qsizetype>(common));
        for (qsizetype i = 0; i < out.labels.size() && i < pinned_labels.size(); ++i) {
            if (out.labels[i] != pinned_labels[i])
                out.labels[i] += " | " + pinned_labels[i]; // where the prompts differ
        }
        out.note = a == b ? QObject::tr("this run − pinned run")
                          : QObject::tr("this run − pinned run over the first %1 positions (the runs have %2 and %3)")
                                .arg(common)
                                .arg(a)
                                .arg(b);
        if (all_zero(shown)) out.note += QObject::tr(": the runs agree within float32 rounding");
    }
    return shown;
}

} // namespace hookscope::ui
