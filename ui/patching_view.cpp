#include "ui/patching_view.h"

#include "ui/heatmap_plot.h"
#include "ui/prompt_panel.h"

#include <QCheckBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <cmath>

namespace hookscope::ui {

QString patching_cell_spec(PatchSite site, int64_t layer, int64_t cell) {
    if (site == PatchSite::HeadOut)
        return QStringLiteral("blocks.%1.attn.hook_z@%2=patch:@pinned").arg(layer).arg(cell);
    return QStringLiteral("%1:%2=patch:@pinned")
        .arg(QString::fromStdString(patch_site_hook(site, static_cast<int>(layer)).to_string()))
        .arg(cell);
}

PatchingView::PatchingView(QWidget* parent) : QWidget(parent) {
    answer_ = new QLineEdit(this);
    answer_->setObjectName("patchingAnswer");
    answer_->setPlaceholderText(tr("the clean run's top prediction"));
    answer_->setToolTip(tr("A token id, or a text that is one token"));
    wrong_ = new QLineEdit(this);
    wrong_->setObjectName("patchingWrong");
    wrong_->setPlaceholderText(tr("the corrupted run's top prediction"));
    wrong_->setToolTip(answer_->toolTip());
    run_ = new QPushButton(tr("Run the sweep"), this);
    run_->setObjectName("patchingRun");
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName("patchingCancel");
    cancel_->setEnabled(false);
    progress_ = new QProgressBar(this);
    progress_->hide();
    message_ = new QLabel(this);
    message_->setObjectName("patchingMessage");
    message_->setWordWrap(true);

    auto* form = new QFormLayout;
    form->addRow(tr("Answer:"), answer_);
    form->addRow(tr("Wrong:"), wrong_);
    auto* site_row = new QHBoxLayout;
    auto* grid = new QGridLayout;
    int i = 0;
    for (PatchSite site : kPatchSites) {
        const QString name = QString::fromLatin1(patch_site_name(site).data(), patch_site_name(site).size());
        auto* box = new QCheckBox(name, this);
        box->setChecked(true);
        sites_[site] = box;
        site_row->addWidget(box);
        auto* plot = new HeatmapPlot(this);
        plot->setObjectName("patching_" + name);
        plot->set_axis_titles(tr("layer"), site == PatchSite::HeadOut ? tr("head") : tr("position"));
        plot->setMinimumSize(100, 80);
        plot->setToolTip(tr("%1: click a cell to add its patch to the Interventions panel").arg(name));
        plots_[site] = plot;
        auto* cell = new QVBoxLayout;
        cell->addWidget(new QLabel(name, this));
        cell->addWidget(plot, 1);
        grid->addLayout(cell, i / 2, i % 2);
        connect(plot, &HeatmapPlot::cellClicked, this, [this, site](int64_t row, int64_t col) {
            emit interventionRequested(patching_cell_spec(site, row, col));
        });
        connect(box, &QCheckBox::toggled, this, &PatchingView::update_state);
        ++i;
    }
    site_row->addStretch(1);
    // The buttons on a row of their own: the page stays as narrow as the other views.
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(run_);
    buttons->addWidget(cancel_);
    buttons->addWidget(progress_, 1);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(site_row);
    layout->addLayout(buttons);
    layout->addWidget(message_);
    layout->addLayout(grid, 1);

    connect(run_, &QPushButton::clicked, this, [this] {
        if (auto j = job()) emit patchingRequested(*j);
    });
    connect(cancel_, &QPushButton::clicked, this, &PatchingView::cancelRequested);
    update_state();
}

void PatchingView::set_runs(std::optional<std::vector<int64_t>> clean, std::optional<std::vector<int64_t>> corrupted) {
    clean_ = std::move(clean);
    corrupted_ = std::move(corrupted);
    update_state();
}

void PatchingView::set_tokenizer(std::shared_ptr<const Tokenizer> tokenizer, int64_t vocabulary) {
    tokenizer_ = std::move(tokenizer);
    vocabulary_ = vocabulary;
}

void PatchingView::set_busy(bool busy) {
    busy_ = busy;
    if (!busy) progress_->hide();
    update_state();
}

void PatchingView::update_state() {
    QString why;
    if (!clean_) {
        why = tr("Pin a run (Run > Pin, Ctrl+P) as the clean run, then run a corrupted prompt of the same length.");
    } else if (!corrupted_) {
        why = tr("Run a corrupted prompt of the same length as the pinned run.");
    } else if (clean_->size() != corrupted_->size()) {
        why = tr("The pinned (clean) run has %1 positions and this (corrupted) run %2: patching needs the same length.")
                  .arg(clean_->size())
                  .arg(corrupted_->size());
    }
    bool any_site = false;
    for (const auto& [site, box] : sites_)
        any_site = any_site || box->isChecked();
    if (why.isEmpty() && !any_site) why = tr("Choose at least one site to sweep.");
    run_->setEnabled(why.isEmpty() && !busy_);
    cancel_->setEnabled(busy_ && progress_->isVisible());
    // The reason replaces what the page said; once it no longer holds, it goes.
    if (!why.isEmpty() || showing_why_) message_->setText(why);
    showing_why_ = !why.isEmpty();
}

std::optional<PatchingJob> PatchingView::job() {
    update_state();
    if (!run_->isEnabled()) return std::nullopt;
    PatchingJob j;
    j.clean = *clean_;
    j.corrupted = *corrupted_;
    const auto token = [this](QLineEdit* edit, const QString& what, std::optional<int64_t>& out) {
        if (edit->text().trimmed().isEmpty()) return true;
        QString error;
        out = parse_token(edit->text(), tokenizer_.get(), vocabulary_, &error);
        if (!out) message_->setText(tr("%1: %2").arg(what, error));
        return out.has_value();
    };
    if (!token(answer_, tr("Answer"), j.answer) || !token(wrong_, tr("Wrong"), j.wrong)) return std::nullopt;
    j.sites.clear();
    for (PatchSite site : kPatchSites) {
        if (sites_.at(site)->isChecked()) j.sites.push_back(site);
    }
    return j;
}

void PatchingView::show_progress(int64_t done, int64_t total) {
    progress_->setRange(0, static_cast<int>(total));
    progress_->setValue(static_cast<int>(done));
    progress_->show();
    cancel_->setEnabled(true);
}

void PatchingView::show_outcome(const PatchingOutcome& o) {
    progress_->hide();
    for (const PatchingGridData& g : o.grids) {
        double largest = 1;
        for (double v : g.values.values)
            largest = std::max(largest, std::isfinite(v) ? std::abs(v) : 0.0);
        plots_.at(g.site)->set_matrix(g.values, ColourRange{-largest, largest, true}, {}, {});
    }
    const bool normalized = o.grids.empty() || o.grids.front().normalized;
    QStringList specs;
    for (const std::string& s : o.interventions)
        specs << QString::fromStdString(s);
    const QString with =
        specs.isEmpty()
            ? QString()
            : tr("Both runs with %1 interventions (%2). ").arg(specs.size()).arg(specs.join(QStringLiteral(", ")));
    message_->setText(with + tr("logit[%1] - logit[%2]: clean %3, corrupted %4. %5")
                                 .arg(o.answer)
                                 .arg(o.wrong)
                                 .arg(o.clean_logit_diff, 0, 'f', 3)
                                 .arg(o.corrupted_logit_diff, 0, 'f', 3)
                                 .arg(normalized
                                          ? tr("Cells: (patched - corrupted) / (clean - corrupted); click one to add "
                                               "its patch.")
                                          : tr("The runs tie: cells show the raw logit difference.")));
    update_state();
}

void PatchingView::show_cancelled() {
    progress_->hide();
    message_->setText(tr("Sweep cancelled."));
    update_state();
}

} // namespace hookscope::ui
