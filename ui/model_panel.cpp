#include "ui/model_panel.h"

#include "ui/runner/model_runner.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QSettings>
#include <QVBoxLayout>

namespace hookscope::ui {

ModelPanel::ModelPanel(QWidget* parent) : QGroupBox(tr("Model"), parent) {
    info_ = new QLabel(tr("No model loaded. Open a checkpoint folder (Ctrl+O) or drop one here."));
    info_->setObjectName("modelInfo");
    info_->setWordWrap(true);
    info_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* open = new QPushButton(tr("Open…"));
    precision_ = new QComboBox;
    precision_->addItem("float32", static_cast<int>(Precision::Float32));
    precision_->addItem("bfloat16", static_cast<int>(Precision::BFloat16));
    precision_->setToolTip(tr("Compute precision for the next load: bfloat16 holds the weight matrices in "
                              "bfloat16 (faster, less exact); activations stay float32"));
    auto* row = new QHBoxLayout;
    row->addWidget(open);
    row->addWidget(new QLabel(tr("Precision")));
    row->addWidget(precision_);
    row->addStretch();
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(info_);
    layout->addLayout(row);
    connect(open, &QPushButton::clicked, this, &ModelPanel::openRequested);
}

void ModelPanel::show_summary(const ModelSummary& s) {
    const QLocale locale;
    info_->setText(tr("<b>%1</b> · %2<br>%3 layers · %4 heads%5 · d_model %6 · d_head %7<br>"
                      "%8 parameters · vocabulary %9 · context %10<br>computing in %11 (weights stored as %12)")
                       .arg(s.architecture.toHtmlEscaped(), QFileInfo(s.folder).fileName().toHtmlEscaped())
                       .arg(s.layers)
                       .arg(s.heads)
                       .arg(s.kv_heads != s.heads ? tr(" (%1 key/value)").arg(s.kv_heads) : QString())
                       .arg(s.d_model)
                       .arg(s.d_head)
                       .arg(locale.toString(static_cast<qlonglong>(s.parameters)))
                       .arg(s.d_vocab)
                       .arg(s.n_ctx)
                       .arg(QString::fromLatin1(precision_name(s.precision).data()), s.storage_dtypes));
    info_->setToolTip(s.folder);
}

Precision ModelPanel::precision() const {
    return static_cast<Precision>(precision_->currentData().toInt());
}

void ModelPanel::set_precision(Precision precision) {
    precision_->setCurrentIndex(precision_->findData(static_cast<int>(precision)));
}

void ModelPanel::save(QSettings& settings) const {
    settings.setValue("model/precision", precision_->currentIndex());
}

void ModelPanel::restore(const QSettings& settings) {
    precision_->setCurrentIndex(settings.value("model/precision", 0).toInt());
}

} // namespace hookscope::ui
