"""The setup page shown when no model is installed: download the recommended set, choose
others, or import a model already on this computer.

Nothing touches the network until the user presses Download; the first request of that
download is what finds out there is no network, and then the page says so and points at
import. Show it when `registry.needs_setup(settings)` is true.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core.settings import Settings
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import CatalogEntry, human_size, load_catalog
from desktop_assistant.ui.plain import plain_label, tip
from desktop_assistant.ui.workers.model_tasks import (
    DownloadTask,
    ImportTask,
    ask_import_path,
    show_download_progress,
    show_progress,
    task_pool,
    wired,
)

OFFLINE_KINDS = ("offline", "timeout")
NO_SPEECH = "No speech model (type only)"
CONVERSATION_ROLES = ("chat", "vision")


class FirstRunPage(QWidget):
    """Signals: model_ready(role, path) for each model installed here (it is also made the
    default of its role); setup_finished() when the chosen downloads are done, or when the
    user presses Start after importing a model."""

    model_ready = Signal(str, str)
    setup_finished = Signal()

    def __init__(
        self, settings: Settings, parent: QWidget | None = None, **download_options: Any
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.download_options = download_options  # for tests: timeout, backoff
        self.task: DownloadTask | ImportTask | None = None
        self.queue: list[str] = []
        catalog = load_catalog()
        title = QLabel("<h2>Set up your assistant</h2>")
        intro = QLabel(
            "Everything runs on this computer. Download the models once; after that the "
            "assistant works without the internet and sends nothing anywhere."
        )
        intro.setWordWrap(True)
        self.chat_choice = QComboBox()
        for entry in catalog.for_role("vision") + catalog.for_role("chat"):
            self.chat_choice.addItem(self._label(entry), entry.id)
        self.speech_choice = QComboBox()
        for entry in catalog.for_role("speech"):
            self.speech_choice.addItem(self._label(entry), entry.id)
        self.speech_choice.addItem(NO_SPEECH, "")
        for combo, role in ((self.chat_choice, "vision"), (self.speech_choice, "speech")):
            default = catalog.default(role)
            if default is not None:
                combo.setCurrentIndex(combo.findData(default.id))
            combo.currentIndexChanged.connect(lambda _=0: self._update_total())
        choices = QFormLayout()
        choices.addRow("Assistant (chat and pictures):", self.chat_choice)
        choices.addRow("Speech to text:", self.speech_choice)
        self.total = plain_label(QLabel())
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.download)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = plain_label(QLabel())
        self.status.setWordWrap(True)
        self.offline = QLabel(
            "<b>No network connection.</b> The models cannot be downloaded right now. Connect "
            "and press Download again (it resumes where it stopped), or import a model you "
            "already have below."
        )
        self.offline.setWordWrap(True)
        self.offline.hide()
        self.import_folder_button = QPushButton("Import a model folder…")
        self.import_gguf_button = QPushButton("Import a GGUF file…")
        self.import_folder_button.clicked.connect(self._pick_folder)
        self.import_gguf_button.clicked.connect(self._pick_gguf)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.setup_finished)
        self.start_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        imports = QHBoxLayout()
        imports.addWidget(QLabel("Already have a model?"))
        imports.addWidget(self.import_folder_button)
        imports.addWidget(self.import_gguf_button)
        imports.addStretch(1)
        imports.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        for widget in (title, intro):
            layout.addWidget(widget)
        layout.addLayout(choices)
        layout.addWidget(self.total)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.offline)
        layout.addLayout(imports)
        self._update_total()

    @staticmethod
    def _label(entry: CatalogEntry) -> str:
        name = entry.name + (" (recommended)" if _is_default(entry) else "")
        return f"{name} · {human_size(entry.download_bytes)} · {entry.description}"

    def chosen(self) -> list[CatalogEntry]:
        """The catalog entries to download (not those installed already)."""
        catalog = load_catalog()
        ids = [self.chat_choice.currentData(), self.speech_choice.currentData()]
        entries = [catalog.get(i) for i in ids if i]
        return [e for e in entries if e is not None and registry.find_installed(e.id) is None]

    def _update_total(self) -> None:
        entries = self.chosen()
        size = sum(e.download_bytes for e in entries)
        ram = registry.ram_fit(sum(e.min_ram for e in entries))  # both run at once
        disk = registry.disk_fit(size)
        if not entries:
            self.total.setText("Everything chosen is installed.")
            return
        self.total.setText(
            f"To download: about {human_size(size)} (disk: {disk.verdict}, "
            f"{human_size(disk.free)} free). RAM needed: {human_size(ram.needed)}, "
            f"{human_size(ram.free)} free: {ram.verdict}."
        )

    # Downloads

    def download(self) -> None:
        """Download the chosen models one after the other."""
        if self.task is not None:
            return
        self.queue = [e.id for e in self.chosen()]
        self.offline.hide()
        self._next()

    def _next(self) -> None:
        if not self.queue:
            self._idle()
            self._update_total()
            if self._has_conversation_model():
                self.status.setText("All set.")
                self.setup_finished.emit()
            return
        model_id = self.queue.pop(0)
        task = wired(
            DownloadTask(model_id, **self.download_options),
            self._download_progress,
            self._installed_then_next,
            self._failed,
        )
        self._run(task, f"Downloading {model_id}…")

    def _run(self, task: DownloadTask | ImportTask, text: str) -> None:
        self.task = task
        self.download_button.setEnabled(False)
        self.import_folder_button.setEnabled(False)
        self.import_gguf_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(text)
        task_pool().start(task)

    def _idle(self) -> None:
        self.task = None
        self.download_button.setEnabled(True)
        self.import_folder_button.setEnabled(True)
        self.import_gguf_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()

    def cancel(self) -> None:
        self.queue.clear()
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")

    def _download_progress(self, progress: Any) -> None:
        show_download_progress(self.progress, self.status, progress)

    def _installed_then_next(self, model: registry.InstalledModel) -> None:
        self._adopt(model)
        self.task = None
        self._next()

    def _adopt(self, model: registry.InstalledModel) -> None:
        """What is installed here becomes the default of its role."""
        self.offline.hide()  # there is a model now: the network no longer matters
        registry.set_default(model.role, model.id, self.settings)
        self.start_button.setEnabled(self._has_conversation_model())
        self.model_ready.emit(model.role, str(model.path))

    def _failed(self, message: str, kind: str) -> None:
        self.queue.clear()
        self._idle()
        self._update_total()
        offline = kind in OFFLINE_KINDS
        self.offline.setVisible(offline)  # says it with what to do: not twice
        self.offline.setToolTip(tip(message) if offline else "")
        self.status.setText("" if offline else message)

    # Imports

    def import_path(self, path: str) -> ImportTask:
        task = wired(ImportTask(path), self._import_progress, self._imported, self._failed)
        self._run(task, f"Importing {Path(path).name}…")
        return task

    def _import_progress(self, text: str, fraction: float) -> None:
        show_progress(self.progress, self.status, text, fraction)

    def _imported(self, model: registry.InstalledModel) -> None:
        self._idle()
        self._adopt(model)
        self._update_total()
        more = "" if self._has_conversation_model() else " Now add a chat or vision model."
        self.status.setText(f"{model.id} is installed.{more}")

    def _has_conversation_model(self) -> bool:
        return any(m.role in CONVERSATION_ROLES for m in registry.list_installed())

    def _pick_folder(self) -> None:
        if folder := ask_import_path(self, gguf=False):
            self.import_path(folder)

    def _pick_gguf(self) -> None:
        if path := ask_import_path(self, gguf=True):
            self.import_path(path)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel what runs (a download resumes next time) and wait for it."""
        self.cancel()
        task_pool().waitForDone(timeout_ms)


def _is_default(entry: CatalogEntry) -> bool:
    return entry.id in load_catalog().defaults.values() and entry.role != "chat"
