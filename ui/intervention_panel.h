#pragma once
// The Interventions panel: a list of SPEC rows (intervention_spec.h), each switched on
// or off by its checkbox and edited in place. A row is checked as it is typed, like the
// hook filter, against the loaded model and the next run; its problem shows under the
// list, naming the SPEC, and a row with a problem is never applied. The enabled rows
// without a problem apply to the next Run or Generate. Under the list, a scale slider
// rewrites the current row's `*SCALE` when that row adds a vector (`add:`).

#include "ui/intervention_list_model.h"

#include <QWidget>

#include <string>
#include <vector>

class QLabel;
class QListView;
class QSettings;
class QToolButton;

namespace hookscope::ui {

class ScaleEditor;

class InterventionPanel : public QWidget {
    Q_OBJECT

public:
    explicit InterventionPanel(QWidget* parent = nullptr);

    // Appends an enabled row with `text` and makes it current.
    void add_spec(const QString& text);
    // Appends an empty row and opens it for typing.
    void add_empty_row();
    // Removes the selected rows (the current one when none is selected).
    void remove_selected();

    void set_limits(InterventionLimits limits) { model_->set_limits(std::move(limits)); }
    // What the next run applies: the enabled rows without a problem.
    std::vector<std::string> applied() const { return model_->applied(); }
    std::vector<InterventionRow> rows() const { return model_->rows(); }
    void set_rows(const std::vector<InterventionRow>& rows) { model_->set_rows(rows); }

    void save(QSettings& settings) const;
    void restore(QSettings& settings);

    InterventionListModel* model() const { return model_; }
    QListView* list() const { return list_; }
    QLabel* problem_label() const { return problem_; }
    QToolButton* add_button() const { return add_; }
    QToolButton* remove_button() const { return remove_; }
    // On only while the current row is an `add:` SPEC.
    ScaleEditor* scale_editor() const { return scale_; }

signals:
    // The rows, their texts or their checkboxes changed.
    void rowsChanged();

private:
    // Shows the current row's problem, or `live` (a text being typed) when given.
    void show_problem(const QString& live = {}, bool editing = false);
    void update_summary();
    // The scale editor shows the current row's scale, or is off for a row without one.
    void sync_scale();
    void rescale_current(double scale);

    InterventionListModel* model_ = nullptr;
    QListView* list_ = nullptr;
    QLabel* problem_ = nullptr;
    QLabel* summary_ = nullptr;
    QToolButton* add_ = nullptr;
    QToolButton* remove_ = nullptr;
    ScaleEditor* scale_ = nullptr;
};

} // namespace hookscope::ui
