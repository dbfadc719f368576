#pragma once
// Comparing two runs: a pinned run beside the one in view. The views that compare
// (tensor, attention) show this run, the pinned run, or this run minus the pinned
// one, aligned by position when the runs differ in length.

#include <QComboBox>
#include <QStringList>

#include <string>
#include <utility>

namespace at {
class Tensor;
}
namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

enum class CompareMode { Current, Pinned, Difference, SideBySide };

// The chooser the comparing views share; hidden while no run is pinned.
class CompareBox : public QComboBox {
    Q_OBJECT

public:
    explicit CompareBox(QWidget* parent = nullptr);
    CompareMode mode() const { return static_cast<CompareMode>(currentData().toInt()); }
    void set_mode(CompareMode mode) { setCurrentIndex(findData(static_cast<int>(mode))); }
};

// What a comparing view shows of hook `name`: the tensor, the labels of its positions
// (the pinned run's for Pinned, the shared positions' for Difference) and a note for
// its title ("" for this run alone). SideBySide gives this run's tensor; the view
// draws the pinned run's (pinned_side()) beside it. Throws std::invalid_argument saying which run
// lacks the hook, or why the two cannot be compared.
struct Compared {
    QStringList labels;
    QString note;
};
at::Tensor compared_tensor(const std::string& name, CompareMode mode, const ActivationCache& current,
                           const ActivationCache* pinned, const QStringList& labels, const QStringList& pinned_labels,
                           Compared& out);

} // namespace hookscope::ui
