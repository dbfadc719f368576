#include "ui/run_compare.h"

#include "bridge/model/activation_cache.h"
#include "ui/view_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

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
    out = {labels, {}};
    const at::Tensor* here = current.find(name);
    const at::Tensor* there = pinned ? pinned->find(name) : nullptr;
    if (mode == CompareMode::Current || mode == CompareMode::SideBySide || !pinned) {
        if (!here) throw std::invalid_argument("`" + name + "` was not captured in this run");
        return *here;
    }
    if (!there) throw std::invalid_argument("`" + name + "` was not captured in the pinned run");
    if (mode == CompareMode::Pinned) {
        out = {pinned_labels, QObject::tr("pinned run")};
        return *there;
    }
    if (!here) throw std::invalid_argument("`" + name + "` was not captured in this run");
    const auto a = static_cast<int64_t>(current.tokens().size()), b = static_cast<int64_t>(pinned->tokens().size());
    const int64_t common = std::min(a, b);
    out.labels = labels.mid(0, static_cast<qsizetype>(common));
    for (qsizetype i = 0; i < out.labels.size() && i < pinned_labels.size(); ++i) {
        if (out.labels[i] != pinned_labels[i]) out.labels[i] += " | " + pinned_labels[i]; // where the prompts differ
    }
    out.note = a == b ? QObject::tr("this run − pinned run")
                      : QObject::tr("this run − pinned run over the first %1 positions (the runs have %2 and %3)")
                            .arg(common)
                            .arg(a)
                            .arg(b);
    return run_difference(name, *here, *there);
}

std::pair<double, double> shared_range(std::pair<double, double> a, std::pair<double, double> b) {
    if (a.first < 0 || b.first < 0) { // signed: symmetric around 0
        const double m = std::max({std::abs(a.first), std::abs(a.second), std::abs(b.first), std::abs(b.second)});
        return {-m, m};
    }
    return {std::min(a.first, b.first), std::max(a.second, b.second)};
}

} // namespace hookscope::ui
