#pragma once
// The hook tree with its filter box: the names filter filters the tree as it is typed
// (an invalid filter shows an inline error and keeps the last valid one), a toggle
// passes it to the next recompute, and a live estimate says what that would capture.

#include "bridge/core/hook_point.h"
#include "bridge/core/names_filter.h"
#include "ui/hook_tree_model.h"

#include <QFutureWatcher>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

class QCheckBox;
class QLabel;
class QLineEdit;
class QMenu;
class QTreeView;

namespace hookscope {
class ActivationCache;
}

namespace hookscope::ui {

class HookFilterProxy;

class HookPanel : public QWidget {
    Q_OBJECT

public:
    explicit HookPanel(QWidget* parent = nullptr);
    ~HookPanel() override;

    // The model's hook points, before any run: names and symbolic shapes.
    void set_model_hooks(const std::vector<HookInfo>& hooks);
    // Only the hook points the size estimate counts (the tree keeps what it shows).
    void set_planning_hooks(const std::vector<HookInfo>& hooks);
    // A captured cache: its tensors, then their statistics once computed (off the GUI thread).
    void set_cache(std::shared_ptr<const ActivationCache> cache);
    // The sequence length the size estimate assumes.
    void set_planned_positions(int64_t positions);

    // The names filter for the next recompute: the box's text when "capture only
    // matching" is on and the text is valid, else "" (everything).
    QString capture_filter() const;
    // Makes the next recompute capture what `filter` selects: sets the box's text and
    // checks "capture only matching".
    void capture_with(const QString& filter);
    // Checks "capture only matching" and puts the cursor in the filter box.
    void edit_capture_filter();
    // Full names of the selected hook rows, in tree order.
    std::vector<std::string> selected_hooks() const;
    // Whether the filter box's (last valid) filter shows hook `name`.
    bool filter_shows(const std::string& name) const;
    QString filter_text() const;
    void set_filter_text(const QString& text);
    // Puts the cursor in the filter box, its text selected.
    void focus_filter();
    // Makes `name` the current row (which opens it in the views).
    void select_hook(const QString& name);
    // Whether a run is pinned: "Patch from the pinned run" needs one.
    void set_pinned_available(bool available);
    // The intervention actions for hook `name` (the tree's context menu): zero- and
    // mean-ablate, patch from the pinned run and add a vector from a file, for the whole
    // hook and, on a hook with a head axis, for one head. An action whose SPEC the hook
    // does not take is off. Each emits interventionRequested. Last, "Make a steering
    // vector…" (steeringRequested), on while the run in view holds the hook.
    QMenu* intervention_menu(const QString& name, QWidget* parent);

    QLineEdit* filter_edit() const { return filter_; }
    QLabel* filter_error() const { return error_; }
    QCheckBox* capture_toggle() const { return capture_only_; }
    QTreeView* tree() const { return tree_; }
    HookTreeModel* tree_model() const { return model_; }
    HookFilterProxy* proxy() const { return proxy_; }

signals:
    // The current hook row changed (an empty name: none).
    void hookActivated(const QString& name);
    // Statistics of the current cache arrived in the tree.
    void statsReady();
    // An intervention chosen from the tree's context menu, as its SPEC text.
    void interventionRequested(const QString& spec);
    // A steering vector to make from the run in view at hook `name`.
    void steeringRequested(const QString& name);

private:
    void apply_filter(const QString& text);
    void update_estimate();
    void expand_matches();

    QLineEdit* filter_ = nullptr;
    QLabel* error_ = nullptr;
    QCheckBox* capture_only_ = nullptr;
    QLabel* estimate_ = nullptr;
    QTreeView* tree_ = nullptr;
    HookTreeModel* model_ = nullptr;
    HookFilterProxy* proxy_ = nullptr;
    std::vector<HookInfo> hooks_;
    std::optional<NamesFilter> valid_filter_; // the box's text, when it parses
    int64_t planned_positions_ = 0;
    bool pinned_available_ = false;
    std::shared_ptr<const ActivationCache> cache_;
    QFutureWatcher<std::vector<std::optional<TensorStats>>> stats_watcher_;
};

} // namespace hookscope::ui
