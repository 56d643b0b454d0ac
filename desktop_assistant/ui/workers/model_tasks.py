"""Downloads and imports of models on a worker thread, reported back by queued signals.

Each task is a `QRunnable` (run by a `QThreadPool`) with a nested `Signals` object created on
the UI thread, so its signals are delivered there; `cancel()` may be called from the UI thread
at any time (as Buzz does for its model downloads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget

from desktop_assistant.core.errors import UserError
from desktop_assistant.models.downloads import Download, DownloadError, DownloadProgress
from desktop_assistant.models.registry import InstalledModel

log = logging.getLogger(__name__)


class DownloadTask(QRunnable):
    """Downloads one model (see models/downloads.py).

    Signals: progress(DownloadProgress), finished(InstalledModel),
    failed(message, kind) with kind as `DownloadError.kind` ("cancelled" after cancel()).
    """

    class Signals(QObject):
        progress = Signal(object)
        finished = Signal(object)
        failed = Signal(str, str)

    def __init__(self, model_id: str, **download_options: object) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps it; Qt must not delete it under Python
        self.model_id = model_id
        self.signals = self.Signals()
        self.download = Download(model_id, self._progress, **download_options)  # type: ignore[arg-type]

    def _progress(self, progress: DownloadProgress) -> None:
        self.signals.progress.emit(progress)

    def cancel(self) -> None:
        self.download.cancel()

    def run(self) -> None:
        try:
            model = self.download.run()
        except DownloadError as err:
            self.signals.failed.emit(str(err), err.kind)
            return
        except Exception as err:  # a bug: say it, log it, keep the app running
            log.exception("download of %s failed", self.model_id)
            self.signals.failed.emit(f"download failed: {type(err).__name__}: {err}", "failed")
            return
        self.signals.finished.emit(model)


class ImportTask(QRunnable):
    """Imports a model folder or a GGUF file (see models/importer.py).

    Signals: progress(text, fraction; -1 when unknown), finished(InstalledModel),
    failed(message, kind) with kind "refused", "cancelled" or "failed".
    """

    class Signals(QObject):
        progress = Signal(str, float)
        finished = Signal(object)
        failed = Signal(str, str)

    def __init__(self, path: str) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.path = path
        self.signals = self.Signals()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        from desktop_assistant.models.importer import ImportCancelled, import_model

        try:
            model = import_model(self.path, self.signals.progress.emit, self._cancel)
        except ImportCancelled as err:
            self.signals.failed.emit(str(err), "cancelled")
            return
        except UserError as err:
            self.signals.failed.emit(str(err), "refused")
            return
        except Exception as err:
            log.exception("import of %s failed", self.path)
            self.signals.failed.emit(f"import failed: {type(err).__name__}: {err}", "failed")
            return
        self.signals.finished.emit(model)


_pool: QThreadPool | None = None


def task_pool() -> QThreadPool:
    """The pool model tasks run on (its own, so that waiting for it waits for nothing else)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(2)
    return _pool


def progress_text(progress: DownloadProgress) -> str:
    """ "120 MB of 1.0 GB · 8.5 MB/s · 2 min left" for a progress bar's label."""
    from desktop_assistant.models.catalog import human_duration, human_size

    if not progress.total:
        return f"{progress.model_id}: asking the hub…"
    parts = [f"{human_size(progress.done)} of {human_size(progress.total)}"]
    if progress.speed:
        parts.append(f"{human_size(progress.speed)}/s")
    if progress.eta_s is not None and progress.done < progress.total:
        parts.append(f"{human_duration(progress.eta_s)} left")
    return f"{progress.model_id}: " + " · ".join(parts)


def ask_import_path(parent: QWidget | None, gguf: bool) -> str:
    """Ask for a model folder (or a GGUF file) to import; "" when the user cancels."""
    from PySide6.QtWidgets import QFileDialog

    if gguf:
        path, _ = QFileDialog.getOpenFileName(
            parent, "Import a GGUF file", "", "GGUF models (*.gguf)"
        )
        return str(path)
    return str(QFileDialog.getExistingDirectory(parent, "Import a model folder"))


def show_progress(bar: QProgressBar, label: QLabel, text: str, fraction: float | None) -> None:
    """A task's progress in a progress bar (unchanged when the fraction is unknown) and a
    label."""
    if fraction is not None and fraction >= 0:
        bar.setRange(0, 1000)
        bar.setValue(int(1000 * fraction))
    label.setText(text)


def show_download_progress(bar: QProgressBar, label: QLabel, progress: DownloadProgress) -> None:
    fraction = progress.done / progress.total if progress.total else None
    show_progress(bar, label, progress_text(progress), fraction)


Task = TypeVar("Task", DownloadTask, ImportTask)


def wired(
    task: Task,
    progress: Callable[..., object],
    finished: Callable[[InstalledModel], object],
    failed: Callable[[str, str], object],
) -> Task:
    """`task` with its progress, finished and failed signals connected."""
    task.signals.progress.connect(progress)
    task.signals.finished.connect(finished)
    task.signals.failed.connect(failed)
    return task
