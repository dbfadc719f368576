#include "ui/collect_dialog.h"

#include "bridge/core/system_memory.h"

#include <QCheckBox>
#include <QPushButton>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <functional>
#include <limits>

namespace hookscope::ui {

namespace {

// A line edit with a "…" button beside it that fills it from `choose`.
QHBoxLayout* with_browse(QLineEdit* edit, const char* name, QWidget* parent, std::function<QString()> choose) {
    auto* browse = new QToolButton(parent);
    browse->setObjectName(name);
    browse->setText(QObject::tr("Browse…"));
    QObject::connect(browse, &QToolButton::clicked, edit, [edit, choose = std::move(choose)] {
        if (const QString path = choose(); !path.isEmpty()) edit->setText(path);
    });
    auto* row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    return row;
}

} // namespace

CollectDialog::CollectDialog(std::vector<HookInfo> hooks, int64_t context, const QString& filter, QWidget* parent)
    : QDialog(parent), hooks_(std::move(hooks)), context_(context) {
    setObjectName("collectDialog");
    setWindowTitle(tr("Collect activations"));
    const QSettings settings;

    prompts_ = new QLineEdit(settings.value("collect/prompts").toString(), this);
    prompts_->setObjectName("collectPrompts");
    prompts_->setToolTip(tr(".jsonl, one {\"text\": …} or {\"tokens\": […]} per line, or text, one prompt per line"));
    folder_ = new QLineEdit(settings.value("collect/folder").toString(), this);
    folder_->setObjectName("collectFolder");
    folder_->setToolTip(tr("Shards and manifest.json go here; a folder with an unfinished collect of the same "
                           "options resumes it"));
    filter_ = new QLineEdit(filter, this);
    filter_->setObjectName("collectFilter");
    filter_->setToolTip(tr("The per-token hook points to record, e.g. blocks.*.hook_resid_post"));
    max_positions_ = new QSpinBox(this);
    max_positions_->setObjectName("collectMaxPositions");
    const int most = static_cast<int>(std::clamp<int64_t>(context, 1, std::numeric_limits<int>::max()));
    max_positions_->setRange(1, most);
    // 0 remembers "the model's context", whatever model comes next.
    const int remembered = settings.value("collect/max_positions", 0).toInt();
    max_positions_->setValue(remembered > 0 ? std::min(remembered, most) : most);
    max_positions_->setToolTip(tr("Longer prompts are cut to this many tokens"));
    shard_size_ = new QLineEdit(settings.value("collect/shard_size", "1G").toString(), this);
    shard_size_->setObjectName("collectShardSize");
    shard_size_->setToolTip(tr("About how large each shard file grows, e.g. 500M or 1G"));
    batch_prompts_ = new QSpinBox(this);
    batch_prompts_->setObjectName("collectBatchPrompts");
    batch_prompts_->setRange(1, 4096);
    batch_prompts_->setValue(settings.value("collect/batch_prompts", 8).toInt());
    batch_prompts_->setToolTip(tr("Consecutive prompts computed in one forward"));
    prepend_bos_ = new QCheckBox(tr("Prepend BOS to text prompts"), this);
    prepend_bos_->setObjectName("collectPrependBos");
    prepend_bos_->setChecked(settings.value("collect/prepend_bos", true).toBool());
    error_ = new QLabel(this);
    error_->setObjectName("collectError");
    error_->setStyleSheet("color: #b00020;");
    error_->setWordWrap(true);
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    error_->hide();

    auto* form = new QFormLayout;
    form->addRow(tr("Prompts file:"), with_browse(prompts_, "collectBrowsePrompts", this, [this] {
                     return QFileDialog::getOpenFileName(this, tr("Prompts file"), prompts_->text(),
                                                         tr("Prompts (*.jsonl *.txt);;All files (*)"));
                 }));
    form->addRow(tr("Output folder:"), with_browse(folder_, "collectBrowseFolder", this, [this] {
                     return QFileDialog::getExistingDirectory(this, tr("Dataset folder"), folder_->text());
                 }));
    form->addRow(tr("Names filter:"), filter_);
    form->addRow(tr("Max positions:"), max_positions_);
    form->addRow(tr("Shard size:"), shard_size_);
    form->addRow(tr("Prompts per batch:"), batch_prompts_);
    form->addRow(QString(), prepend_bos_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Collect"));
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(error_);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &CollectDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    resize(560, sizeHint().height());
}

void CollectDialog::show_error(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

std::optional<CollectJob> CollectDialog::job() {
    const QString prompts = prompts_->text().trimmed();
    const QString folder = folder_->text().trimmed();
    if (prompts.isEmpty()) {
        show_error(tr("Choose the prompts file."));
        return std::nullopt;
    }
    if (!QFileInfo(prompts).isFile()) {
        show_error(tr("The prompts file %1 does not exist.").arg(prompts));
        return std::nullopt;
    }
    if (folder.isEmpty()) {
        show_error(tr("Choose the folder the dataset goes to."));
        return std::nullopt;
    }
    const auto bytes = parse_byte_size(shard_size_->text().trimmed().toStdString());
    if (!bytes || *bytes == 0) {
        show_error(tr("The shard size needs a size such as 500M or 1G, got `%1`.").arg(shard_size_->text()));
        return std::nullopt;
    }
    const std::string filter = filter_->text().trimmed().toStdString();
    if (const std::string problem = collect_filter_problem(hooks_, filter); !problem.empty()) {
        show_error(QString::fromStdString(problem));
        return std::nullopt;
    }
    show_error({});
    CollectJob job;
    job.prompts_file = prompts.toStdString();
    job.folder = folder.toStdString();
    job.names_filter = filter;
    job.max_positions = max_positions_->value();
    job.shard_bytes = *bytes;
    job.batch_prompts = batch_prompts_->value();
    job.prepend_bos = prepend_bos_->isChecked();
    return job;
}

void CollectDialog::remember() const {
    QSettings settings;
    settings.setValue("collect/prompts", prompts_->text().trimmed());
    settings.setValue("collect/folder", folder_->text().trimmed());
    settings.setValue("collect/max_positions",
                      max_positions_->value() == max_positions_->maximum() ? 0 : max_positions_->value());
    settings.setValue("collect/shard_size", shard_size_->text().trimmed());
    settings.setValue("collect/batch_prompts", batch_prompts_->value());
    settings.setValue("collect/prepend_bos", prepend_bos_->isChecked());
}

void CollectDialog::accept() {
    if (const auto j = job()) {
        remember();
        emit collectRequested(*j);
        QDialog::accept();
    }
}

} // namespace hookscope::ui
