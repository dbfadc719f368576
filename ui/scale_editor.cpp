#include "ui/scale_editor.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QSignalBlocker>
#include <QSlider>

#include <cmath>

namespace hookscope::ui {

namespace {

int slider_steps(double value) {
    return static_cast<int>(std::lround(value / ScaleEditor::kStep));
}

} // namespace

ScaleEditor::ScaleEditor(QWidget* parent) : QWidget(parent) {
    slider_ = new QSlider(Qt::Horizontal, this);
    slider_->setObjectName("scaleSlider");
    slider_->setRange(slider_steps(-kLimit), slider_steps(kLimit));
    slider_->setPageStep(10);
    spin_ = new QDoubleSpinBox(this);
    spin_->setObjectName("scaleSpin");
    spin_->setRange(-kLimit, kLimit);
    spin_->setSingleStep(kStep);
    spin_->setDecimals(1);
    spin_->setPrefix(QStringLiteral("×"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(slider_, 1);
    layout->addWidget(spin_);
    set_value(1);

    connect(slider_, &QSlider::valueChanged, this, [this](int steps) {
        const QSignalBlocker block(spin_);
        spin_->setValue(steps * kStep);
        emit valueChanged(spin_->value());
    });
    connect(spin_, &QDoubleSpinBox::valueChanged, this, [this](double value) {
        const QSignalBlocker block(slider_);
        slider_->setValue(slider_steps(value));
        emit valueChanged(value);
    });
}

double ScaleEditor::value() const {
    return spin_->value();
}

void ScaleEditor::set_value(double value) {
    const QSignalBlocker block_slider(slider_), block_spin(spin_);
    spin_->setValue(value);
    slider_->setValue(slider_steps(spin_->value()));
}

} // namespace hookscope::ui
