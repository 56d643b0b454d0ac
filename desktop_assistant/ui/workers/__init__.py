"""The window's threads: each long-lived QThread and the worker object living on it.

- chat.py: the chat model (`ChatThread`, `ChatWorker`)
- speech.py: the speech model and the microphone (`SpeechThread`, `SpeechWorker`, `Microphone`)
- history.py: the SQLite history (`HistoryThread`, `HistoryWorker`)
- model_tasks.py: downloads and imports, as pool tasks

Every thread owner is a `WorkerThread`: the window talks to its worker only through queued
signals, and `shutdown` ends the thread at quit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QThread, SignalInstance


class WorkerThread(QObject):
    """One QThread, named, and the worker moved onto it. A subclass connects its request
    signals to the worker's slots with `start(links)`; `shutdown` calls `before_quit` (stop
    what runs, drain what is queued), ends the thread's loop and waits for it."""

    SHUTDOWN_MS = 10_000  # how long shutdown waits by default

    def __init__(self, name: str, worker: QObject, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.qthread = QThread()
        self.qthread.setObjectName(name)
        self.worker = worker  # subclasses annotate its class
        worker.moveToThread(self.qthread)

    def start(self, links: Iterable[tuple[SignalInstance, Callable[..., object]]] = ()) -> None:
        """Connect (signal, slot) pairs, queued onto the worker's thread, and start it."""
        for signal, slot in links:
            signal.connect(slot)
        self.qthread.start()

    def before_quit(self) -> None:
        """What must happen before the thread's loop ends; nothing by default."""

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """End the thread and wait for it; True when it has ended."""
        self.before_quit()
        self.qthread.quit()
        return self.qthread.wait(self.SHUTDOWN_MS if timeout_ms is None else timeout_ms)
