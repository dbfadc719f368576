#include "ui/dataset_view.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace hookscope::ui {

namespace {

QTreeWidget* table(const QStringList& headers, const char* name, QWidget* parent) {
    auto* t = new QTreeWidget(parent);
    t->setObjectName(name);
    t->setHeaderLabels(headers);
    t->setRootIsDecorated(false);
    t->setUniformRowHeights(true);
    t->setSelectionMode(QAbstractItemView::ExtendedSelection);
    return t;
}

} // namespace

DatasetDialog::DatasetDialog(DatasetSummary summary, QWidget* parent) : QDialog(parent), summary_(std::move(summary)) {
    setObjectName("datasetDialog");
    setWindowTitle(tr("Activation dataset — %1").arg(QString::fromStdString(summary_.folder)));
    const auto text = [](const std::string& s) { return QString::fromStdString(s); };
    const QLocale locale;

    auto* form = new QFormLayout;
    const auto add = [&](const QString& label, const char* name, const QString& value) {
        auto* l = new QLabel(value, this);
        l->setObjectName(QStringLiteral("dataset_") + name);
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        l->setWordWrap(true);
        form->addRow(label, l);
    };
    const DatasetSummary& s = summary_;
    add(tr("Folder:"), "folder", text(s.folder));
    add(tr("Model:"), "model", tr("%1 (fingerprint %2)").arg(text(s.model), text(s.fingerprint)));
    add(tr("Names filter:"), "names_filter", text(s.names_filter));
    add(tr("Prompts file:"), "prompts_file", tr("%1 (SHA-256 %2)").arg(text(s.prompts_file), text(s.prompts_sha256)));
    add(tr("Options:"), "options", text(s.options));
    add(tr("Prompts:"), "prompts", QString::number(s.prompts));
    add(tr("Cut prompts:"), "cut_prompts", QString::number(s.cut_prompts));
    add(tr("Tokens:"), "tokens", QString::number(s.tokens));
    add(tr("Processes:"), "world_size", QString::number(s.world_size));

    hooks_ = table({tr("Hook point"), tr("Row shape")}, "datasetHooks", this);
    for (const DatasetSummary::Hook& h : s.hooks)
        new QTreeWidgetItem(hooks_, {text(h.name), text(h.shape)});
    hooks_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    shards_ = table({tr("Shard"), tr("Rank"), tr("Prompts"), tr("Tokens"), tr("Size")}, "datasetShards", this);
    for (const DatasetSummary::Shard& sh : s.shards) {
        new QTreeWidgetItem(shards_, {text(sh.file), QString::number(sh.rank), text(sh.prompt_ranges),
                                      QString::number(sh.tokens), locale.formattedDataSize(sh.bytes)});
    }
    shards_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);

    verify_ = new QPushButton(tr("&Verify shards"), this);
    verify_->setObjectName("datasetVerify");
    verify_->setToolTip(tr("Checks every shard's SHA-256 against the manifest"));
    result_ = new QLabel(this);
    result_->setObjectName("datasetVerifyResult");
    result_->setWordWrap(true);
    result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    buttons->addButton(verify_, QDialogButtonBox::ActionRole);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Hook points (%1):").arg(s.hooks.size()), this));
    layout->addWidget(hooks_, 1);
    layout->addWidget(new QLabel(tr("Shards (%1):").arg(s.shards.size()), this));
    layout->addWidget(shards_, 1);
    layout->addWidget(result_);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(verify_, &QPushButton::clicked, this, &DatasetDialog::verify);
    connect(&watcher_, &QFutureWatcher<Check>::finished, this, [this] {
        verify_->setEnabled(true);
        const Check check = watcher_.result();
        if (!check.error.empty()) {
            result_->setText(QString::fromStdString(check.error));
            return emit verified(false, result_->text());
        }
        const std::vector<std::string>& damaged = check.damaged;
        if (damaged.empty()) {
            result_->setText(tr("All %1 shards match the manifest.").arg(summary_.shards.size()));
            return emit verified(true, result_->text());
        }
        QStringList lines;
        for (const std::string& d : damaged)
            lines << QString::fromStdString(d);
        result_->setText(tr("%1 of %2 shards do not match the manifest:\n%3")
                             .arg(damaged.size())
                             .arg(summary_.shards.size())
                             .arg(lines.join('\n')));
        emit verified(false, result_->text());
    });
    resize(760, 620);
}

QString DatasetDialog::field(const QString& name) const {
    const auto* label = findChild<QLabel*>(QStringLiteral("dataset_") + name);
    return label ? label->text() : QString();
}

void DatasetDialog::verify() {
    if (watcher_.isRunning()) return;
    verify_->setEnabled(false);
    result_->setText(tr("Checking %1 shards…").arg(summary_.shards.size()));
    watcher_.setFuture(QtConcurrent::run([folder = summary_.folder] {
        try {
            return Check{damaged_shards(folder), {}};
        } catch (const std::exception& e) {
            return Check{{}, e.what()};
        }
    }));
}

} // namespace hookscope::ui
