#pragma once
// The rows of the Interventions panel: each a SPEC text (intervention_spec.h) that
// the user can switch on or off. Every row is checked as it changes against the loaded
// model's hook points and the next run's positions; a row with a problem keeps its text
// and its problem, and is never applied.

#include "bridge/core/hook_point.h"

#include <QAbstractListModel>
#include <QJsonArray>
#include <QString>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookscope::ui {

// One row as sessions and settings keep it.
struct InterventionRow {
    QString text;
    bool enabled = true;
    friend bool operator==(const InterventionRow&, const InterventionRow&) = default;
};

// `text`, an `add:` SPEC, with its `*SCALE` set to `scale`; nullopt for any other text.
std::optional<QString> with_steering_scale(const QString& text, double scale);

// Rows as JSON, [{"spec": TEXT, "enabled": BOOL}, ...], for sessions and settings.
QJsonArray intervention_rows_json(const std::vector<InterventionRow>& rows);
std::vector<InterventionRow> intervention_rows_from_json(const QJsonArray& array);

// What the next run allows: the model's hook points (none: only the text is checked),
// the positions of the first forward and the longest sequence the run can reach (0:
// unknown, then the context), and whether a run is pinned for `patch:@pinned`.
struct InterventionLimits {
    std::vector<HookInfo> hooks;
    int64_t first_pass_length = 0;
    int64_t max_positions = 0;
    int64_t n_ctx = 0;
    bool pinned = false;
};

// Why `text` cannot be applied under `limits` (the bridge's message, naming the SPEC),
// or nullopt when it can.
std::optional<QString> intervention_problem(const QString& text, const InterventionLimits& limits);

class InterventionListModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Roles {
        ProblemRole = Qt::UserRole + 1, // QString: empty when the row can be applied
        EnabledRole,                    // bool
    };

    explicit InterventionListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool removeRows(int row, int count, const QModelIndex& parent = {}) override;

    // Appends a row and returns its index.
    QModelIndex add(const InterventionRow& row);
    std::vector<InterventionRow> rows() const;
    void set_rows(const std::vector<InterventionRow>& rows);
    // Rechecks every row under new limits.
    void set_limits(InterventionLimits limits);
    const InterventionLimits& limits() const { return limits_; }

    // The texts of the enabled rows without a problem, in order: what the next run applies.
    std::vector<std::string> applied() const;
    int problem_count() const;

private:
    struct Entry {
        InterventionRow row;
        QString problem;
    };
    void check(Entry& entry) const;

    std::vector<Entry> entries_;
    InterventionLimits limits_;
};

} // namespace hookscope::ui
