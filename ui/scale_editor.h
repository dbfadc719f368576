#pragma once
// A steering vector's scale: a slider for moving it quickly, beside a spin box for an
// exact value, kept in step; -20..20 in steps of 0.1.

#include <QWidget>

class QDoubleSpinBox;
class QSlider;

namespace hookscope::ui {

class ScaleEditor : public QWidget {
    Q_OBJECT

public:
    static constexpr double kLimit = 20, kStep = 0.1;

    explicit ScaleEditor(QWidget* parent = nullptr);

    double value() const;
    // Shows `value` (clamped to the range) without emitting valueChanged.
    void set_value(double value);

    QSlider* slider() const { return slider_; }
    QDoubleSpinBox* spin_box() const { return spin_; }

signals:
    // The user moved the slider or changed the spin box.
    void valueChanged(double value);

private:
    QSlider* slider_ = nullptr;
    QDoubleSpinBox* spin_ = nullptr;
};

} // namespace hookscope::ui
