#pragma once
// The loaded model at a glance (architecture, sizes, precision), with Open and the
// precision the next load computes in.

#include "bridge/core/precision.h"

#include <QGroupBox>

class QComboBox;
class QLabel;
class QSettings;

namespace hookscope::ui {

struct ModelSummary;

class ModelPanel : public QGroupBox {
    Q_OBJECT

public:
    explicit ModelPanel(QWidget* parent = nullptr);

    void show_summary(const ModelSummary& summary);
    // The precision the next load computes in.
    Precision precision() const;
    void set_precision(Precision precision);

    void save(QSettings& settings) const;
    void restore(const QSettings& settings);

signals:
    // Open… was clicked: the window asks for a folder.
    void openRequested();

private:
    QLabel* info_ = nullptr;
    QComboBox* precision_ = nullptr;
};

} // namespace hookscope::ui
