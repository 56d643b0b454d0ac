"""The model manager: installed and downloadable models per role, with what each needs.

For each model: its size, the RAM it needs against this machine's free RAM and the disk it
needs against the free disk (fits / tight / will not fit). Download (one at a time, with
speed and ETA, cancellable, resumed later if cut short), import a folder or a GGUF file,
remove, and set the default per role. Nothing here touches the network unless the user
presses Download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core import paths
from desktop_assistant.core.settings import Settings
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import (
    ROLE_NAMES,
    ROLES,
    CatalogEntry,
    human_size,
    load_catalog,
)
from desktop_assistant.ui.plain import ask, plain_label, tip
from desktop_assistant.ui.workers.model_tasks import (
    DownloadTask,
    ImportTask,
    ask_import_path,
    show_download_progress,
    show_progress,
    task_pool,
    wired,
)

COLUMNS = ("Model", "Status", "Size", "RAM", "Disk")
VERDICT_MARK = {registry.FITS: "✓", registry.TIGHT: "⚠", registry.WONT_FIT: "✗"}


def fit_text(fit: registry.Fit) -> str:
    """A RAM or disk cell, short enough for its column (the whole in `fit_tip`)."""
    return f"{VERDICT_MARK[fit.verdict]} {fit.verdict}, {human_size(fit.needed)}"


def fit_tip(fit: registry.Fit, what: str) -> str:
    return tip(f"{what}: {fit.verdict} ({fit.describe()})")


class ModelManagerDialog(QDialog):
    """Lists models per role and runs downloads and imports on the thread pool.

    Signals: model_installed(InstalledModel), model_removed(id), default_changed(role, path).
    """

    model_installed = Signal(object)
    model_removed = Signal(str)
    default_changed = Signal(str, str)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(900, 520)
        self.settings = settings
        self.task: DownloadTask | ImportTask | None = None
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Models")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.details = plain_label(QLabel())
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.machine = plain_label(QLabel())
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = plain_label(QLabel())
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel")
        self.remove_button = QPushButton("Remove")
        self.default_button = QPushButton("Set as default")
        self.import_folder_button = QPushButton("Import folder…")
        self.import_gguf_button = QPushButton("Import GGUF…")
        self.close_button = QPushButton("Close")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button.clicked.connect(self.cancel)
        self.remove_button.clicked.connect(self.remove_selected)
        self.default_button.clicked.connect(self.set_selected_default)
        self.import_folder_button.clicked.connect(self._pick_folder)
        self.import_gguf_button.clicked.connect(self._pick_gguf)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (
            self.download_button,
            self.cancel_button,
            self.remove_button,
            self.default_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.import_folder_button, self.import_gguf_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.machine)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh()

    # What is shown

    def refresh(self) -> None:
        """Rebuild the list from the models folder, the catalog and this machine's free RAM
        and disk (cheap: no torch, no network)."""
        import psutil

        selected = self.selected_id()
        free_ram = int(psutil.virtual_memory().available)
        free_disk = registry.free_disk(paths.models_dir())
        self.machine.setText(
            f"This computer: {human_size(free_ram)} of RAM free, {human_size(free_disk)} free "
            f"on the disk holding {paths.models_dir()}"
        )
        self.tree.clear()
        catalog = load_catalog()
        in_use = registry.folders_in_use(self.settings)
        installed = registry.list_installed() + in_use
        defaults = {
            role: m.path for role in ROLES if (m := registry.default_model(role, self.settings))
        }
        for role in ROLES:
            parent = QTreeWidgetItem([ROLE_NAMES[role]])
            parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(parent)
            for model in (m for m in installed if m.role == role):
                if model in in_use:
                    status = (
                        "In use, from a file" if model.path.is_file() else "In use, from a folder"
                    )
                elif defaults.get(model.role) == model.path:
                    status = "Installed, default"
                else:
                    status = "Installed"
                ram = registry.ram_fit(registry.ram_needed(model), free_ram)
                item = QTreeWidgetItem(
                    [model.id, status, human_size(model.size), fit_text(ram), "on disk"]
                )
                item.setToolTip(0, tip(str(model.path)))
                item.setToolTip(3, fit_tip(ram, "RAM"))
                kind = "folder" if model in in_use else "installed"
                item.setData(0, Qt.ItemDataRole.UserRole, (kind, model))
                parent.addChild(item)
            for entry in catalog.for_role(role):
                if any(m.id == entry.id for m in installed):
                    continue
                ram = registry.ram_fit(entry.min_ram, free_ram)
                disk = registry.disk_fit(entry.download_bytes, free=free_disk)
                status = "Available" + (" (gated)" if entry.gated else "")
                if catalog.defaults.get(role) == entry.id:
                    status += ", recommended"
                size = "≈ " + human_size(entry.download_bytes)
                item = QTreeWidgetItem([entry.id, status, size, fit_text(ram), fit_text(disk)])
                item.setToolTip(0, tip(entry.description))
                item.setToolTip(3, fit_tip(ram, "RAM"))
                item.setToolTip(4, fit_tip(disk, "Disk"))
                item.setData(0, Qt.ItemDataRole.UserRole, ("available", entry))
                parent.addChild(item)
            parent.setExpanded(True)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._fit_columns()
        if selected:
            self.select(selected)
        self._update_buttons()

    def _fit_columns(self) -> None:
        """Wide enough for every column (none cut off), within the screen."""
        header = self.tree.header()
        wanted = header.length() + self.tree.frameWidth() * 2 + 40
        screen = self.screen().availableGeometry().width() if self.screen() else wanted
        if self.width() < wanted:
            self.resize(min(wanted, screen), self.height())

    def selected(self) -> tuple[str, Any] | None:
        item = self.tree.currentItem()
        data = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        return data if isinstance(data, tuple) else None

    def selected_id(self) -> str:
        data = self.selected()
        return data[1].id if data else ""

    def select(self, model_id: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(i)
            children = [parent.child(j) for j in range(parent.childCount())] if parent else []
            for child in children:
                if child is not None and child.text(0) == model_id:
                    self.tree.setCurrentItem(child)
                    return True
        return False

    def _update_buttons(self) -> None:
        data = self.selected()
        busy = self.task is not None
        kind, thing = data if data else ("", None)
        self.download_button.setEnabled(kind == "available" and not busy)
        self.remove_button.setEnabled(kind == "installed" and not busy)
        self.default_button.setEnabled(kind == "installed")
        self.cancel_button.setEnabled(busy)
        self.import_folder_button.setEnabled(not busy)
        self.import_gguf_button.setEnabled(not busy)
        self.details.setText(self._describe(kind, thing))

    @staticmethod
    def _describe(kind: str, thing: Any) -> str:
        if isinstance(thing, CatalogEntry):
            reads = (
                "30 s of audio at a time"
                if thing.role == "speech"
                else (f"{thing.context:,} tokens at once")
            )
            text = (
                f"{thing.description} {thing.parameters / 1e9:.2f}B parameters, reads {reads}, "
                f"licence: {thing.licence}."
            )
            return text + (f" {thing.access}" if thing.gated else "")
        if isinstance(thing, registry.InstalledModel):
            if kind == "folder":
                opened = "a file" if thing.path.is_file() else "a folder"
                return (
                    f"{thing.architecture or 'model'} in use from {thing.path} (opened as "
                    f"{opened}: not installed here, so not removed here)."
                )
            how = "downloaded" if thing.source == "download" else f"imported from {thing.origin}"
            return f"{thing.architecture or 'model'}, {how}; in {thing.path}"
        return "Choose a model."

    # Actions

    def download_selected(self) -> None:
        data = self.selected()
        if data and data[0] == "available":
            self.start_download(data[1].id)

    def start_download(self, model_id: str, **options: object) -> DownloadTask:
        task = wired(
            DownloadTask(model_id, **options),
            self._download_progress,
            self._installed,
            self._failed,
        )
        self._start(task, f"Downloading {model_id}…")
        return task

    def import_path(self, path: str) -> ImportTask:
        task = wired(ImportTask(path), self._import_progress, self._installed, self._failed)
        self._start(task, f"Importing {Path(path).name}…")
        return task

    def _start(self, task: DownloadTask | ImportTask, text: str) -> None:
        self.task = task
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(text)
        self._update_buttons()
        task_pool().start(task)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")

    def _download_progress(self, progress: Any) -> None:
        show_download_progress(self.progress, self.status, progress)

    def _import_progress(self, text: str, fraction: float) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)  # busy: a step of unknown length
        show_progress(self.progress, self.status, text, fraction)

    def _installed(self, model: registry.InstalledModel) -> None:
        self.task = None
        self.progress.hide()
        made_default = registry.default_if_unset(model, self.settings)
        also = f" and is now the {model.role} model" if made_default else ""
        self.status.setText(f"{model.id} is installed{also}.")
        self.refresh()
        self.select(model.id)
        self.model_installed.emit(model)
        if made_default:
            self.default_changed.emit(model.role, str(model.path))

    def _failed(self, message: str, kind: str) -> None:
        self.task = None
        self.progress.hide()
        self.status.setText(message)
        self.refresh()

    def remove_selected(self) -> None:
        data = self.selected()
        if not data or data[0] != "installed":
            return
        model = data[1]
        if not self.confirm(f"Remove {model.id}? This deletes {human_size(model.size)}."):
            return
        freed = registry.remove(model.id, self.settings)
        self.status.setText(f"Removed {model.id}; {human_size(freed)} freed.")
        self.refresh()
        self.model_removed.emit(model.id)

    def set_selected_default(self) -> None:
        data = self.selected()
        if not data or data[0] != "installed":
            return
        model = data[1]
        registry.set_default(model.role, model.id, self.settings)
        self.status.setText(f"{model.id} is now the {model.role} model.")
        self.refresh()
        self.default_changed.emit(model.role, str(model.path))

    def confirm(self, question: str) -> bool:
        return ask(self, "Models", question)

    def _pick_folder(self) -> None:
        if folder := ask_import_path(self, gguf=False):
            self.import_path(folder)

    def _pick_gguf(self) -> None:
        if path := ask_import_path(self, gguf=True):
            self.import_path(path)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        """Closing cancels a running task (a download resumes next time)."""
        self._stop_task()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        """Esc (reject) and accept end the dialog without a close event: they cancel too,
        so no download goes on with nobody to see it."""
        self._stop_task()
        super().done(result)

    def _stop_task(self) -> None:
        if self.task is not None:
            self.task.cancel()
            task_pool().waitForDone(5000)
