#include "ui/intervention_panel.h"

#include "bridge/core/intervention_spec.h"
#include "ui/scale_editor.h"

#include <QAction>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QSettings>
#include <QStyledItemDelegate>
#include <QToolButton>
#include <QVBoxLayout>

namespace hookscope::ui {

namespace {

// The row editor: a line edit whose text is checked at every keystroke.
class SpecDelegate : public QStyledItemDelegate {
public:
    SpecDelegate(QObject* parent, std::function<void(const QString&)> on_edit)
        : QStyledItemDelegate(parent), on_edit_(std::move(on_edit)) {}

    QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                          const QModelIndex& index) const override {
        auto* editor = qobject_cast<QLineEdit*>(QStyledItemDelegate::createEditor(parent, option, index));
        if (!editor) return QStyledItemDelegate::createEditor(parent, option, index);
        editor->setObjectName("interventionEditor");
        editor->setPlaceholderText(tr("blocks.0.attn.hook_z@1=zero"));
        QObject::connect(editor, &QLineEdit::textEdited, editor, [f = on_edit_](const QString& text) { f(text); });
        return editor;
    }

private:
    std::function<void(const QString&)> on_edit_;
};

} // namespace

InterventionPanel::InterventionPanel(QWidget* parent) : QWidget(parent) {
    model_ = new InterventionListModel(this);
    list_ = new QListView(this);
    list_->setObjectName("interventionList");
    list_->setModel(model_);
    list_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    list_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                           QAbstractItemView::SelectedClicked);
    list_->setItemDelegate(new SpecDelegate(this, [this](const QString& text) { show_problem(text, true); }));
    list_->setToolTip(tr("One intervention a row: HOOK[@HEAD][:POSITIONS]=zero | mean | mean:P1-P2 | "
                         "add:FILE[#KEY][*SCALE] | patch:FILE (patch:@pinned: the pinned run).\n"
                         "Checked rows without a problem apply to the next Run or Generate. "
                         "F2 edits a row, Delete removes it, Insert adds one."));

    add_ = new QToolButton(this);
    add_->setObjectName("addIntervention");
    add_->setText(tr("Add"));
    add_->setToolTip(tr("Add an intervention row (Insert)"));
    remove_ = new QToolButton(this);
    remove_->setObjectName("removeIntervention");
    remove_->setText(tr("Remove"));
    remove_->setToolTip(tr("Remove the selected rows (Delete)"));
    summary_ = new QLabel(this);
    summary_->setObjectName("interventionSummary");
    problem_ = new QLabel(this);
    problem_->setObjectName("interventionProblem");
    problem_->setStyleSheet("color: #b00020;");
    problem_->setWordWrap(true);
    problem_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    problem_->hide();
    scale_ = new ScaleEditor(this);
    scale_->setObjectName("interventionScale");
    scale_->setToolTip(tr("The scale of the current row's vector (`add:…*SCALE`)"));
    connect(scale_, &ScaleEditor::valueChanged, this, &InterventionPanel::rescale_current);

    // Delete and Insert act on the list itself, never inside a row being edited.
    auto* remove_action = new QAction(tr("Remove"), list_);
    remove_action->setShortcuts({QKeySequence::Delete, QKeySequence(Qt::Key_Backspace)});
    remove_action->setShortcutContext(Qt::WidgetShortcut);
    list_->addAction(remove_action);
    auto* add_action = new QAction(tr("Add"), list_);
    add_action->setShortcut(QKeySequence(Qt::Key_Insert));
    add_action->setShortcutContext(Qt::WidgetShortcut);
    list_->addAction(add_action);
    connect(remove_action, &QAction::triggered, this, &InterventionPanel::remove_selected);
    connect(add_action, &QAction::triggered, this, &InterventionPanel::add_empty_row);
    connect(add_, &QToolButton::clicked, this, &InterventionPanel::add_empty_row);
    connect(remove_, &QToolButton::clicked, this, &InterventionPanel::remove_selected);

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(add_);
    buttons->addWidget(remove_);
    buttons->addWidget(summary_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(list_, 1);
    layout->addWidget(problem_);
    layout->addWidget(scale_);
    layout->addLayout(buttons);

    const auto changed = [this] {
        update_summary();
        show_problem();
        sync_scale();
        emit rowsChanged();
    };
    connect(model_, &QAbstractItemModel::dataChanged, this, changed);
    connect(model_, &QAbstractItemModel::rowsInserted, this, changed);
    connect(model_, &QAbstractItemModel::rowsRemoved, this, changed);
    connect(model_, &QAbstractItemModel::modelReset, this, changed);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] {
        show_problem();
        sync_scale();
    });
    update_summary();
    sync_scale();
}

void InterventionPanel::add_spec(const QString& text) {
    const QModelIndex index = model_->add({text, true});
    list_->setCurrentIndex(index);
    list_->scrollTo(index);
}

void InterventionPanel::add_empty_row() {
    const QModelIndex index = model_->add({QString(), true});
    list_->setCurrentIndex(index);
    list_->setFocus(Qt::OtherFocusReason);
    list_->edit(index);
}

void InterventionPanel::remove_selected() {
    QList<int> rows;
    for (const QModelIndex& index : list_->selectionModel()->selectedRows())
        rows << index.row();
    if (rows.isEmpty() && list_->currentIndex().isValid()) rows << list_->currentIndex().row();
    std::sort(rows.begin(), rows.end(), std::greater<>());
    for (int row : rows)
        model_->removeRows(row, 1);
}

void InterventionPanel::show_problem(const QString& live, bool editing) {
    QString problem;
    if (editing) {
        problem = intervention_problem(live, model_->limits()).value_or(QString());
    } else if (const QModelIndex current = list_->currentIndex(); current.isValid()) {
        problem = current.data(InterventionListModel::ProblemRole).toString();
    }
    problem_->setText(problem);
    problem_->setVisible(!problem.isEmpty());
}

void InterventionPanel::sync_scale() {
    const QModelIndex current = list_->currentIndex();
    const std::optional<double> scale =
        current.isValid() ? steering_scale(current.data().toString().trimmed().toStdString()) : std::nullopt;
    scale_->setEnabled(scale.has_value());
    if (scale) scale_->set_value(*scale);
}

void InterventionPanel::rescale_current(double scale) {
    const QModelIndex current = list_->currentIndex();
    if (!current.isValid()) return;
    if (const auto text = with_steering_scale(current.data().toString(), scale)) model_->setData(current, *text);
}

void InterventionPanel::update_summary() {
    const int total = model_->rowCount();
    const int applied = static_cast<int>(model_->applied().size());
    const int problems = model_->problem_count();
    QString text = total == 0 ? tr("No interventions") : tr("%1 of %2 apply to the next run").arg(applied).arg(total);
    if (problems > 0) text += tr(" · %1 with a problem").arg(problems);
    summary_->setText(text);
}

void InterventionPanel::save(QSettings& settings) const {
    settings.setValue(
        "interventions/rows",
        QString::fromUtf8(QJsonDocument(intervention_rows_json(model_->rows())).toJson(QJsonDocument::Compact)));
}

void InterventionPanel::restore(QSettings& settings) {
    const QByteArray text = settings.value("interventions/rows").toString().toUtf8();
    if (!text.isEmpty()) model_->set_rows(intervention_rows_from_json(QJsonDocument::fromJson(text).array()));
}

} // namespace hookscope::ui
