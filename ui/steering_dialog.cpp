#include "ui/steering_dialog.h"

#include "bridge/core/intervention_spec.h"
#include "bridge/model/activation_cache.h"
#include "ui/intervention_list_model.h"
#include "ui/runner/steering_job.h"
#include "ui/scale_editor.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace hookscope::ui {

std::vector<HookInfo> steerable_hooks(const std::vector<HookInfo>& hooks, const ActivationCache& cache) {
    std::vector<HookInfo> out;
    for (const HookInfo& h : hooks) {
        if (h.shape.size() >= 3 && position_axis(h) == 1 && cache.contains(h.name)) out.push_back(h);
    }
    return out;
}

QString steering_file_stem(const QString& hook, std::optional<int64_t> head, int64_t position) {
    QString stem = hook;
    if (head) stem += QStringLiteral(".head%1").arg(*head);
    return stem + QStringLiteral(".pos%1").arg(position);
}

QString steering_folder() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/steering");
}

namespace {

// `folder`/`stem`.safetensors, or with -2, -3, ... when that file is there: a vector
// made earlier, which a row may still add, is never overwritten by default.
QString free_path(const QString& folder, const QString& stem) {
    QString path = folder + "/" + stem + ".safetensors";
    for (int n = 2; QFileInfo::exists(path); ++n)
        path = folder + "/" + stem + QStringLiteral("-%1.safetensors").arg(n);
    return path;
}

} // namespace

SteeringDialog::SteeringDialog(SteeringRuns runs, const QString& hook, QWidget* parent)
    : QDialog(parent), runs_(std::move(runs)) {
    setObjectName("steeringDialog");
    setWindowTitle(tr("Make a steering vector"));
    if (runs_.run) hooks_ = steerable_hooks(runs_.hooks, *runs_.run);

    hook_ = new QComboBox(this);
    hook_->setObjectName("steeringHook");
    for (const HookInfo& h : hooks_)
        hook_->addItem(QString::fromStdString(h.name));
    if (const int at = hook_->findText(hook); at >= 0) hook_->setCurrentIndex(at);
    head_ = new QComboBox(this);
    head_->setObjectName("steeringHead");
    position_ = new QSpinBox(this);
    position_->setObjectName("steeringPosition");
    const int positions = runs_.run ? static_cast<int>(runs_.run->tokens().size()) : 0;
    position_->setRange(0, std::max(positions - 1, 0));
    position_->setValue(runs_.prompt_length > 0 ? static_cast<int>(runs_.prompt_length) - 1 : positions - 1);
    position_->setToolTip(tr("The position the vector is read at (default: the prompt's last)"));
    from_pinned_ = new QRadioButton(tr("Pinned run − this run"), this);
    from_pinned_->setObjectName("steeringFromPinned");
    from_pinned_->setToolTip(tr("Steers toward the pinned run and away from this one (activation addition)"));
    this_run_ = new QRadioButton(tr("This run alone"), this);
    this_run_->setObjectName("steeringThisRun");
    path_ = new QLineEdit(this);
    path_->setObjectName("steeringPath");
    auto* browse = new QToolButton(this);
    browse->setObjectName("steeringBrowse");
    browse->setText(tr("…"));
    browse->setToolTip(tr("Choose the file"));
    scale_ = new ScaleEditor(this);
    scale_->setObjectName("steeringScale");
    positions_ = new QLineEdit(this);
    positions_->setObjectName("steeringPositions");
    positions_->setPlaceholderText(tr("all"));
    positions_->setToolTip(tr("Where the vector is added: P or P1-P2 (from the sequence start), or empty for "
                              "every position"));
    error_ = new QLabel(this);
    error_->setObjectName("steeringError");
    error_->setStyleSheet("color: #b00020;");
    error_->setWordWrap(true);
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    error_->hide();

    auto* sources = new QVBoxLayout;
    sources->addWidget(from_pinned_);
    sources->addWidget(this_run_);
    auto* file = new QHBoxLayout;
    file->addWidget(path_, 1);
    file->addWidget(browse);
    auto* form = new QFormLayout;
    form->addRow(tr("Hook point:"), hook_);
    form->addRow(tr("Head:"), head_);
    form->addRow(tr("Position:"), position_);
    form->addRow(tr("Vector:"), sources);
    form->addRow(tr("File:"), file);
    form->addRow(tr("Scale:"), scale_);
    form->addRow(tr("Add at positions:"), positions_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(error_);
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &SteeringDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(hook_, &QComboBox::currentIndexChanged, this, [this] {
        const QSignalBlocker block(head_);
        head_->clear();
        head_->addItem(tr("all heads"));
        if (const HookInfo* h = chosen_hook()) {
            if (const auto axis = head_axis(*h)) {
                for (int64_t i = 0; i < axis->count; ++i)
                    head_->addItem(tr("head %1").arg(i), QVariant::fromValue(i));
            }
        }
        update_choices();
    });
    connect(head_, &QComboBox::currentIndexChanged, this, &SteeringDialog::update_choices);
    connect(position_, &QSpinBox::valueChanged, this, &SteeringDialog::update_choices);
    connect(path_, &QLineEdit::textEdited, this, [this] { path_edited_ = true; });
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Steering vector file"), path_->text(),
                                                          tr("safetensors (*.safetensors)"));
        if (path.isEmpty()) return;
        path_->setText(path);
        path_edited_ = true;
    });
    emit hook_->currentIndexChanged(hook_->currentIndex()); // the heads and sources of the first hook
    from_pinned_->setChecked(from_pinned_->isEnabled());
    this_run_->setChecked(!from_pinned_->isEnabled());
    if (hooks_.empty())
        show_error(tr("The run in view holds no hook point with a value per position: capture one "
                      "(e.g. blocks.*.hook_resid_pre) and run again."));
}

const HookInfo* SteeringDialog::chosen_hook() const {
    const int at = hook_->currentIndex();
    return at >= 0 && at < static_cast<int>(hooks_.size()) ? &hooks_[static_cast<std::size_t>(at)] : nullptr;
}

std::optional<int64_t> SteeringDialog::chosen_head() const {
    const QVariant head = head_->currentData();
    return head.isValid() ? std::optional<int64_t>(head.toLongLong()) : std::nullopt;
}

void SteeringDialog::update_choices() {
    const HookInfo* h = chosen_hook();
    head_->setEnabled(h && head_axis(*h));
    const auto pinned_positions = runs_.pinned ? static_cast<int64_t>(runs_.pinned->tokens().size()) : 0;
    const bool pinned_usable =
        h && runs_.pinned && runs_.pinned->contains(h->name) && position_->value() < pinned_positions;
    from_pinned_->setEnabled(pinned_usable);
    from_pinned_->setToolTip(pinned_usable   ? tr("Steers toward the pinned run and away from this one")
                             : !runs_.pinned ? tr("Pin a run first (Run > Pin, Ctrl+P): the run to steer toward")
                                             : tr("The pinned run lacks this hook point or position"));
    if (!pinned_usable && from_pinned_->isChecked()) this_run_->setChecked(true);
    if (!path_edited_ && h) {
        path_->setText(free_path(
            steering_folder(), steering_file_stem(QString::fromStdString(h->name), chosen_head(), position_->value())));
    }
}

void SteeringDialog::show_error(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

std::optional<QString> SteeringDialog::make() {
    const HookInfo* h = chosen_hook();
    if (!h) {
        show_error(tr("Choose a hook point."));
        return std::nullopt;
    }
    const QString path =
        path_->text().trimmed().isEmpty() ? QString() : QFileInfo(path_->text().trimmed()).absoluteFilePath();
    if (path.isEmpty()) {
        show_error(tr("Choose a file to write the vector to."));
        return std::nullopt;
    }
    if (path.contains(u'#') || path.contains(u'*')) {
        show_error(tr("The file's path must hold no '#' or '*': an intervention's FILE ends at either."));
        return std::nullopt;
    }
    const std::optional<int64_t> head = chosen_head();
    QString spec = QString::fromStdString(h->name);
    if (head) spec += QStringLiteral("@%1").arg(*head);
    if (const QString at = positions_->text().trimmed(); !at.isEmpty()) spec += ":" + at;
    spec += "=add:" + path + "#steering";
    // The text is checked before the file is written: a bad one leaves no file.
    try {
        (void)InterventionSpec::parse(spec.toStdString());
    } catch (const std::exception& e) {
        show_error(QString::fromStdString(e.what()));
        return std::nullopt;
    }
    spec = with_steering_scale(spec, scale_->value()).value_or(spec);
    SteeringJob job;
    job.hook = *h;
    job.head = head;
    job.position = position_->value();
    job.run = runs_.run;
    if (from_pinned_->isChecked()) job.pinned = runs_.pinned;
    job.path = path.toStdString();
    if (const std::string why = write_steering_vector(job); !why.empty()) {
        show_error(QString::fromStdString(why));
        return std::nullopt;
    }
    show_error({});
    return spec;
}

void SteeringDialog::accept() {
    if (const auto spec = make()) {
        emit specMade(*spec);
        QDialog::accept();
    }
}

} // namespace hookscope::ui
