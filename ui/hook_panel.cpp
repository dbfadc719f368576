#include "ui/hook_panel.h"

#include "bridge/analysis/view_data.h"
#include "bridge/core/cache_budget.h"
#include "bridge/core/errors.h"
#include "bridge/core/intervention_spec.h"
#include "bridge/model/activation_cache.h"
#include "ui/cache_data.h"
#include "ui/hook_filter_proxy.h"
#include "ui/intervention_list_model.h"

#include <QCheckBox>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QTreeView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace hookscope::ui {

HookPanel::HookPanel(QWidget* parent) : QWidget(parent) {
    filter_ = new QLineEdit(this);
    filter_->setObjectName("hookFilter");
    filter_->setPlaceholderText(tr("Filter hook points: blocks.*.attn.hook_pattern, /resid_(pre|post)$/"));
    filter_->setClearButtonEnabled(true);
    filter_->setToolTip(tr("Names filter: comma-separated exact names, globs (* and ?) or /regex/"));
    error_ = new QLabel(this);
    error_->setObjectName("hookFilterError");
    error_->setStyleSheet("color: #b00020;");
    error_->setWordWrap(true);
    error_->hide();
    capture_only_ = new QCheckBox(tr("Capture only matching hook points"), this);
    capture_only_->setObjectName("captureOnlyMatching");
    estimate_ = new QLabel(this);
    estimate_->setObjectName("cacheEstimate");

    model_ = new HookTreeModel(this);
    proxy_ = new HookFilterProxy(this);
    proxy_->setSourceModel(model_);
    tree_ = new QTreeView(this);
    tree_->setObjectName("hookTree");
    tree_->setModel(proxy_);
    tree_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    tree_->setUniformRowHeights(true);
    // The numbers take the width they need and the names the rest: a dock too narrow
    // for a whole name elides its middle (the tooltip has it whole) before any
    // statistic goes out of sight.
    tree_->header()->setStretchLastSection(false);
    tree_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    tree_->header()->setSectionResizeMode(HookTreeModel::Name, QHeaderView::Stretch);
    tree_->setTextElideMode(Qt::ElideMiddle);
    tree_->setIndentation(16); // three levels deep, the names keep room beside the numbers
    tree_->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(tree_, &QTreeView::customContextMenuRequested, this, [this](const QPoint& at) {
        const QString name = tree_->indexAt(at).siblingAtColumn(0).data(HookTreeModel::HookNameRole).toString();
        if (name.isEmpty()) return;
        QMenu* menu = intervention_menu(name, this);
        menu->setAttribute(Qt::WA_DeleteOnClose);
        menu->popup(tree_->viewport()->mapToGlobal(at));
    });

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(filter_);
    layout->addWidget(error_);
    layout->addWidget(capture_only_);
    layout->addWidget(estimate_);
    layout->addWidget(tree_, 1);

    connect(filter_, &QLineEdit::textChanged, this, &HookPanel::apply_filter);
    connect(capture_only_, &QCheckBox::toggled, this, &HookPanel::update_estimate);
    connect(tree_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& current) {
        emit hookActivated(current.siblingAtColumn(0).data(HookTreeModel::HookNameRole).toString());
    });
    connect(&stats_watcher_, &QFutureWatcher<std::vector<std::optional<TensorStats>>>::finished, this, [this] {
        // A result for a cache that is gone (a model loaded since) is dropped.
        if (!cache_ || stats_watcher_.future().resultCount() == 0) return;
        model_->set_stats(stats_watcher_.result());
        emit statsReady();
    });
    valid_filter_ = NamesFilter();
    update_estimate();
}

HookPanel::~HookPanel() = default;

void HookPanel::apply_filter(const QString& text) {
    try {
        valid_filter_ = NamesFilter(text.toStdString());
        error_->hide();
        error_->clear();
        proxy_->set_names_filter(*valid_filter_);
        expand_matches();
    } catch (const FilterError& e) {
        valid_filter_.reset(); // the tree keeps the last valid filter
        error_->setText(QString::fromStdString(e.what()));
        error_->show();
    }
    update_estimate();
}

void HookPanel::expand_matches() {
    // A narrow filter opens every group so its hooks show; a broad one (hundreds of
    // rows) leaves the groups as they are, which is both faster and easier to read.
    constexpr int kExpandAtMost = 100;
    if (filter_->text().trimmed().isEmpty() || !valid_filter_) return;
    int matches = 0;
    for (const HookEntry& e : model_->entries())
        matches += valid_filter_->matches(e.name) ? 1 : 0;
    if (matches <= kExpandAtMost) tree_->expandAll();
}

void HookPanel::set_planning_hooks(const std::vector<HookInfo>& hooks) {
    hooks_ = hooks;
    update_estimate();
}

void HookPanel::set_model_hooks(const std::vector<HookInfo>& hooks) {
    hooks_ = hooks;
    cache_.reset();
    model_->set_entries(hook_entries(hooks));
    update_estimate();
}

void HookPanel::set_cache(std::shared_ptr<const ActivationCache> cache) {
    cache_ = std::move(cache);
    model_->set_entries(hook_entries(*cache_));
    expand_matches();
    stats_watcher_.setFuture(QtConcurrent::run([cache = cache_] { return tensor_stats(*cache); }));
}

void HookPanel::set_planned_positions(int64_t positions) {
    planned_positions_ = positions;
    update_estimate();
}

QString HookPanel::capture_filter() const {
    if (!capture_only_->isChecked() || !valid_filter_) return {};
    return filter_->text();
}

void HookPanel::capture_with(const QString& filter) {
    filter_->setText(filter);
    capture_only_->setChecked(true);
}

void HookPanel::edit_capture_filter() {
    capture_only_->setChecked(true);
    filter_->setFocus(Qt::OtherFocusReason);
    filter_->selectAll();
}

bool HookPanel::filter_shows(const std::string& name) const {
    return proxy_->names_filter().matches(name);
}

QString HookPanel::filter_text() const {
    return filter_->text();
}

void HookPanel::set_filter_text(const QString& text) {
    filter_->setText(text);
}

void HookPanel::focus_filter() {
    filter_->setFocus();
    filter_->selectAll();
}

void HookPanel::set_pinned_available(bool available) {
    pinned_available_ = available;
}

QMenu* HookPanel::intervention_menu(const QString& name, QWidget* parent) {
    auto* menu = new QMenu(parent);
    menu->setObjectName("interventionMenu");
    // Positions do not matter for whole-hook SPECs: any length will do.
    InterventionLimits limits;
    limits.hooks = hooks_;
    limits.first_pass_length = limits.max_positions = 1 << 20;
    limits.pinned = pinned_available_;
    std::optional<int64_t> heads;
    for (const HookInfo& h : hooks_) {
        if (h.name != name.toStdString()) continue;
        if (const auto axis = head_axis(h)) heads = axis->count;
    }
    const auto add = [&](QMenu* to, const QString& label, const QString& spec, const char* object_name) {
        QAction* a = to->addAction(label, this, [this, spec] { emit interventionRequested(spec); });
        a->setObjectName(object_name);
        a->setToolTip(spec);
        a->setEnabled(!intervention_problem(spec, limits));
    };
    struct Kind {
        QString label, action;
        const char* object_name;
    };
    const Kind kinds[] = {{tr("Zero-ablate"), "zero", "zeroAblate"},
                          {tr("Mean-ablate"), "mean", "meanAblate"},
                          {tr("Patch from the pinned run"), "patch:@pinned", "patchFromPinned"}};
    for (const Kind& k : kinds) {
        add(menu, k.label, name + "=" + k.action, k.object_name);
        if (!heads) continue;
        QMenu* per_head = menu->addMenu(tr("%1 one head").arg(k.label));
        per_head->setObjectName(QString(k.object_name) + "Head");
        for (int64_t h = 0; h < *heads; ++h) {
            add(per_head, tr("Head %1").arg(h), QStringLiteral("%1@%2=%3").arg(name).arg(h).arg(k.action),
                k.object_name);
        }
    }
    menu->addSeparator();
    QAction* vector = menu->addAction(tr("Add a vector from a file…"), this, [this, name] {
        const QString path = QFileDialog::getOpenFileName(this, tr("A vector to add at %1").arg(name), QString(),
                                                          tr("safetensors (*.safetensors)"));
        if (!path.isEmpty()) emit interventionRequested(name + "=add:" + path);
    });
    vector->setObjectName("addVector");
    vector->setEnabled(!intervention_problem(name + "=add:x.safetensors", limits));
    QAction* steering =
        menu->addAction(tr("Make a steering vector…"), this, [this, name] { emit steeringRequested(name); });
    steering->setObjectName("makeSteering");
    steering->setEnabled(cache_ && cache_->contains(name.toStdString()) && vector->isEnabled());
    return menu;
}

void HookPanel::select_hook(const QString& name) {
    const QModelIndex index = proxy_->mapFromSource(model_->index_of(name.toStdString()));
    if (!index.isValid()) return;
    tree_->scrollTo(index);
    tree_->setCurrentIndex(index);
}

std::vector<std::string> HookPanel::selected_hooks() const {
    std::vector<std::pair<int, std::string>> picked;
    for (const QModelIndex& index : tree_->selectionModel()->selectedRows(0)) {
        const QString name = index.data(HookTreeModel::HookNameRole).toString();
        if (!name.isEmpty()) picked.emplace_back(index.data(HookTreeModel::EntryIndexRole).toInt(), name.toStdString());
    }
    std::sort(picked.begin(), picked.end());
    std::vector<std::string> out;
    for (auto& [order, name] : picked)
        out.push_back(std::move(name));
    return out;
}

void HookPanel::update_estimate() {
    if (hooks_.empty() || planned_positions_ <= 0) {
        estimate_->clear();
        return;
    }
    const NamesFilter everything;
    const bool filtered = capture_only_->isChecked() && valid_filter_;
    const NamesFilter& filter = filtered ? *valid_filter_ : everything;
    const int64_t bytes = estimated_cache_bytes(hooks_, filter, planned_positions_);
    estimate_->setText(tr("Next run captures %1 hook points, about %2 at %3 positions")
                           .arg(matching_hooks(hooks_, filter))
                           .arg(byte_text(bytes))
                           .arg(planned_positions_));
}

} // namespace hookscope::ui
