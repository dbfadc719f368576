#include "ui/dataset_jobs.h"

#include "ui/collect_dialog.h"
#include "ui/dataset_view.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>

#include <cmath>

namespace hookscope::ui {

namespace {

QString duration_text(double seconds) {
    const auto s = static_cast<int64_t>(std::llround(seconds));
    if (s < 60) return QObject::tr("%1 s").arg(s);
    return QObject::tr("%1 min %2 s").arg(s / 60).arg(s % 60);
}

} // namespace

DatasetJobs::DatasetJobs(ModelRunner* runner, QWidget* window) : QObject(window), runner_(runner), window_(window) {
    progress_box_ = new QWidget;
    progress_box_->setObjectName("collectProgress");
    bar_ = new QProgressBar(progress_box_);
    bar_->setObjectName("collectProgressBar");
    bar_->setMaximumWidth(200);
    bar_->setFormat(tr("%v/%m prompts"));
    text_ = new QLabel(progress_box_);
    text_->setObjectName("collectProgressText");
    cancel_ = new QPushButton(tr("Cancel"), progress_box_);
    cancel_->setObjectName("collectCancel");
    cancel_->setToolTip(tr("Stops before the next batch; the finished shards stay, and collecting again resumes"));
    auto* layout = new QHBoxLayout(progress_box_);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(text_);
    layout->addWidget(bar_);
    layout->addWidget(cancel_);
    progress_box_->hide();
    connect(cancel_, &QPushButton::clicked, this, &DatasetJobs::cancel);

    connect(runner_, &ModelRunner::collectProgress, this, [this](int id, const CollectStatus& s) {
        if (id == request_) show_progress(s);
    });
    connect(runner_, &ModelRunner::collectFinished, this, [this](int id, const CollectOutcome& o) {
        if (id != request_) return;
        stop_progress();
        QString text = tr("Collected %1 prompts (%2 tokens) at %3 hook points into %4 shard(s) in %5")
                           .arg(o.prompts)
                           .arg(o.tokens)
                           .arg(o.hooks)
                           .arg(o.shards)
                           .arg(QString::fromStdString(o.folder));
        if (o.cut_prompts > 0) text += tr("; %1 prompt(s) were cut").arg(o.cut_prompts);
        emit status(text);
        emit collectFinished(o);
    });
    connect(runner_, &ModelRunner::collectCancelled, this, [this](int id) {
        if (id != request_) return;
        stop_progress();
        emit status(tr("Collect cancelled: the finished shards stay in %1, and collecting again resumes").arg(folder_));
        emit collectCancelled();
    });
    connect(runner_, &ModelRunner::failed, this, [this](int id) {
        if (id == request_) stop_progress(); // the window shows the error
    });
    // Another request (a load, a run) supersedes the collect: its result never comes.
    // The collect's own end clears busy just before its signal, so the check waits for
    // that signal to have been handled.
    connect(runner_, &ModelRunner::busyChanged, this, [this](bool busy) {
        if (busy || request_ == 0) return;
        QMetaObject::invokeMethod(
            this,
            [this, id = request_] {
                if (request_ == id && !runner_->busy()) stop_progress();
            },
            Qt::QueuedConnection);
    });
}

CollectDialog* DatasetJobs::open_collect_dialog(const QString& filter) {
    const auto& summary = runner_->summary();
    if (!summary) {
        emit failed(tr("Collecting activations"), tr("no model is loaded: open a checkpoint folder first"));
        return nullptr;
    }
    if (runner_->busy()) {
        emit failed(tr("Collecting activations"), tr("the model is busy: stop what runs first"));
        return nullptr;
    }
    auto* dialog = new CollectDialog(summary->hooks, summary->n_ctx, filter, window_);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &CollectDialog::collectRequested, this, &DatasetJobs::collect);
    dialog->open(); // window-modal, never blocks the event loop
    return dialog;
}

void DatasetJobs::collect(const CollectJob& job) {
    if (runner_->busy()) {
        emit failed(tr("Collecting activations"), tr("the model is busy: stop what runs first"));
        return;
    }
    folder_ = QString::fromStdString(job.folder);
    request_ = runner_->collect(job);
    bar_->setRange(0, 0);
    text_->setText(tr("Collecting…"));
    progress_box_->show();
    emit status(tr("Collecting activations into %1…").arg(folder_));
}

void DatasetJobs::cancel() {
    if (request_ == 0) return;
    runner_->cancel();
    cancel_->setEnabled(false);
    text_->setText(tr("Cancelling after this batch…"));
}

void DatasetJobs::show_progress(const CollectStatus& s) {
    if (s.tokens_done == 0 && s.kept_shards > 0) {
        emit status(
            tr("Keeping %1 finished shard(s) of an earlier run (%2 prompts)").arg(s.kept_shards).arg(s.prompts_done));
    }
    bar_->setRange(0, static_cast<int>(s.prompts));
    bar_->setValue(static_cast<int>(s.prompts_done));
    const double rate = s.seconds > 0 ? static_cast<double>(s.tokens_done) / s.seconds : 0;
    if (!cancel_->isEnabled()) return; // "Cancelling…" stays
    QString text = tr("%1 tokens/s").arg(std::llround(rate));
    if (rate > 0 && s.prompts_done < s.prompts)
        text += tr(", about %1 left").arg(duration_text(static_cast<double>(s.tokens - s.tokens_done) / rate));
    text_->setText(text);
}

void DatasetJobs::stop_progress() {
    request_ = 0;
    progress_box_->hide();
    cancel_->setEnabled(true);
}

DatasetDialog* DatasetJobs::open_dataset(const QString& path) {
    DatasetSummary summary;
    try {
        summary = read_dataset_summary(path.toStdString());
    } catch (const std::exception& e) {
        emit failed(tr("Opening the dataset %1").arg(path), QString::fromStdString(e.what()));
        return nullptr;
    }
    auto* dialog = new DatasetDialog(std::move(summary), window_);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show(); // modeless: the window stays usable beside it
    emit status(tr("Opened the dataset %1: %2 prompts, %3 tokens, %4 hook points, %5 shard(s)")
                    .arg(QString::fromStdString(dialog->summary().folder))
                    .arg(dialog->summary().prompts)
                    .arg(dialog->summary().tokens)
                    .arg(dialog->summary().hooks.size())
                    .arg(dialog->summary().shards.size()));
    emit datasetOpened(dialog);
    return dialog;
}

} // namespace hookscope::ui
