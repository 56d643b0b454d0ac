"""The open conversation's documents (issue 22): a chip per document above the prompt box,
with its name, its pages and, while it is read, a progress bar.

A dropped, pasted or picked document is read on a pool thread (`core.documents.read_document`,
page by page) and stored in the history database by the hash of its bytes
(`storage.documents.DocumentStore`, a connection of the task's own: SQLite's WAL lets it
write beside the history thread), so a file is read once however often it is given. Its chip
then stays for the whole conversation: every later question in it is answered from it
(`ChatWorker` looks up the passages). Documents given before the conversation was saved are
attached when its first message is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from desktop_assistant.storage.documents import DocumentStore, StoredCollection, StoredDocument
from desktop_assistant.ui.flow_layout import FlowLayout
from desktop_assistant.ui.plain import plain_label, tip

log = logging.getLogger(__name__)


def pages_text(document: StoredDocument) -> str:
    if document.kind == "pdf":
        return f"{document.pages} page{'s' if document.pages != 1 else ''}"
    return f"{document.pages} part{'s' if document.pages != 1 else ''}"


class _ReadDocument(QRunnable):
    """Read one file and store it, on a pool thread.

    Signals: progress(key, done, total), done(key, StoredDocument), failed(key, message)."""

    class Signals(QObject):
        progress = Signal(int, int, int)
        done = Signal(int, object)
        failed = Signal(int, str)

    def __init__(self, key: int, path: Path, database: Path) -> None:
        super().__init__()
        self.key, self.path, self.database = key, path, database
        self.cancel = threading.Event()
        self.signals = _ReadDocument.Signals()
        self.setAutoDelete(False)  # the tray keeps it until it reports

    def run(self) -> None:
        """Open the history database, do `work` with it, and report: done(key, its result),
        or failed(key, why); nothing once cancelled (`work` gives None)."""
        from desktop_assistant.core.errors import UserError
        from desktop_assistant.storage.database import connect
        from desktop_assistant.storage.documents import DocumentStore

        db = None
        try:
            db = connect(self.database)
            self._check_schema(db)
            result = self.work(DocumentStore(db))
        except UserError as err:
            self.signals.failed.emit(self.key, str(err))
            return
        except Exception as err:  # a bug or a locked database: say so, keep the app
            log.exception("reading %s failed", self.path)
            self.signals.failed.emit(self.key, f"could not read {self.path.name}: {err}")
            return
        finally:
            if db is not None:
                db.close()
        if result is not None:
            self.signals.done.emit(self.key, result)

    def work(self, store: DocumentStore) -> Any:
        from desktop_assistant.core.documents import read_document

        return store.known(self.path) or store.add(
            read_document(
                self.path,
                progress=lambda done, total: self.signals.progress.emit(self.key, done, total),
                cancel=self.cancel,
            )
        )

    def _check_schema(self, db: Any) -> None:
        from desktop_assistant.core.errors import UserError
        from desktop_assistant.storage.database import SCHEMA_VERSION

        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            raise UserError(  # the history thread has not opened (migrated) it yet
                f"{self.path.name} was not added: the conversation history is still "
                "opening; add it again in a moment"
            )


class _ReadFolder(_ReadDocument):
    """Read every document of a folder into its collection, on a pool thread: a file read
    before (same bytes) is not read again, so adding the folder again only reads what is new
    or changed. Files that cannot be read are skipped and named.

    Signals: progress(key, files done, files), done(key, (StoredCollection, skipped messages)),
    failed(key, message)."""

    def work(self, store: DocumentStore) -> Any:
        from desktop_assistant.core.documents import documents_in, read_document
        from desktop_assistant.core.errors import UserError

        files = documents_in(self.path)
        if not files:
            raise UserError(f"{self.path.name} holds no documents this app reads")
        members: dict[int, str] = {}
        skipped = []
        for done, path in enumerate(files):
            if self.cancel.is_set():
                return None
            self.signals.progress.emit(self.key, done, len(files))
            try:
                known = store.known(path) or store.add(read_document(path, cancel=self.cancel))
            except (UserError, OSError) as err:
                skipped.append(f"{path.relative_to(self.path)}: {err}")
                continue
            members[known.id] = str(path.relative_to(self.path))
        if not members:
            raise UserError(f"no document in {self.path.name} could be read")
        collection_id = store.collection(self.path.name, str(self.path.resolve()))
        store.set_collection_documents(collection_id, members)
        [collection] = store.collections([collection_id])
        return collection, skipped


@dataclass
class _Chip:
    widget: QWidget
    label: QLabel
    bar: QProgressBar
    document: StoredDocument | None = None
    collection: StoredCollection | None = None


class DocumentTray(QWidget):
    """The documents of the open conversation.

    Signals: added(StoredDocument) once a document is read and stored; removed(document id)
    when the user takes one out; problem(message) when a file could not be read.
    `database` is the history file (None: documents cannot be kept, and adding one says so).
    """

    added = Signal(object)
    removed = Signal(int)
    collection_added = Signal(object)
    collection_removed = Signal(int)
    problem = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database: Path | None = None
        self.start: Callable[[QRunnable], None] = QThreadPool.globalInstance().start
        self._next_key = 0
        self._reading: dict[int, _ReadDocument] = {}
        self._chips: dict[int, _Chip] = {}
        self._flow = FlowLayout(self, spacing=4, right=False)
        self._flow.setContentsMargins(0, 0, 0, 4)
        self.setVisible(False)

    # ---- adding ----------------------------------------------------------------------------

    def add_files(self, files: list[Path]) -> None:
        for path in files:
            self._read(path, _ReadDocument, self._on_done)

    def add_folder(self, folder: Path) -> None:
        """Every document in the folder, as a collection (kept for use in other chats)."""
        self._read(folder, _ReadFolder, self._on_folder_done)

    def _read(self, path: Path, job_class: type[_ReadDocument], done: Callable) -> None:
        if self.database is None:
            self.problem.emit(
                f"{path.name} was not added: documents are kept in the conversation "
                "history, which is not available."
            )
            return
        self._next_key += 1
        key = self._next_key
        job = job_class(key, path, self.database)
        job.signals.progress.connect(self._on_progress)
        job.signals.done.connect(done)
        job.signals.failed.connect(self._on_failed)
        self._reading[key] = job
        self._chips[key] = self._chip(key, path.name)
        self.setVisible(True)
        self.start(job)

    def show_documents(
        self, documents: Sequence[StoredDocument], collections: Sequence[StoredCollection] = ()
    ) -> None:
        """The tray for another conversation: these documents and collections, and nothing
        being read."""
        self.clear()
        for collection in collections:
            self._next_key += 1
            chip = self._chip(self._next_key, collection.name)
            self._chips[self._next_key] = chip
            self._settle_collection(chip, collection)
        for document in documents:
            self._next_key += 1
            chip = self._chip(self._next_key, document.name)
            self._chips[self._next_key] = chip
            self._settle(chip, document)
        self.setVisible(bool(self._chips))

    def use_collection(self, collection: StoredCollection) -> None:
        """A stored collection, chosen for this chat (nothing to read)."""
        if any(c.collection and c.collection.id == collection.id for c in self._chips.values()):
            return
        self._next_key += 1
        chip = self._chip(self._next_key, collection.name)
        self._chips[self._next_key] = chip
        self._settle_collection(chip, collection)
        self.setVisible(True)
        self.collection_added.emit(collection)

    def _chip(self, key: int, name: str) -> _Chip:
        box = QWidget(self)
        box.setObjectName("documentChip")
        box.setStyleSheet(
            "QWidget#documentChip { border: 1px solid palette(mid); border-radius: 6px; }"
        )
        row = QHBoxLayout(box)
        row.setContentsMargins(6, 2, 2, 2)
        row.setSpacing(4)
        label = plain_label(QLabel(name, box))
        bar = QProgressBar(box)
        bar.setRange(0, 0)  # busy until the first page is read
        bar.setMaximumWidth(90)
        bar.setTextVisible(False)
        bar.setAccessibleName(f"Reading {name}")
        remove = QToolButton(box)
        remove.setText("×")
        remove.setAutoRaise(True)
        remove.setToolTip(tip(f"Remove {name} from this chat"))
        remove.setAccessibleName(f"Remove {name}")
        remove.clicked.connect(lambda _=False, k=key: self.remove(k))
        row.addWidget(label)
        row.addWidget(bar)
        row.addWidget(remove)
        self._flow.addWidget(box)
        return _Chip(box, label, bar)

    def _settle(self, chip: _Chip, document: StoredDocument) -> None:
        chip.document = document
        chip.bar.hide()
        chip.label.setText(f"{document.name} · {pages_text(document)}")
        chip.widget.setToolTip(tip(f"{document.name} ({document.kind}, {pages_text(document)})"))

    def _settle_collection(self, chip: _Chip, collection: StoredCollection) -> None:
        chip.collection = collection
        chip.bar.hide()
        count = len(collection.document_ids)
        chip.label.setText(f"{collection.name} · {count} document{'s' if count != 1 else ''}")
        chip.widget.setToolTip(tip(f"Collection {collection.name}: {collection.folder}"))

    def _on_folder_done(self, key: int, result: tuple[StoredCollection, list[str]]) -> None:
        collection, skipped = result
        self._reading.pop(key, None)
        chip = self._chips.get(key)
        if chip is None:
            return
        if any(c.collection and c.collection.id == collection.id for c in self._chips.values()):
            self._drop_chip(key)
        else:
            self._settle_collection(chip, collection)
            self.collection_added.emit(collection)
        if skipped:
            listed = "; ".join(skipped[:5]) + (
                f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            )
            self.problem.emit(f"Some files in {collection.name} were not read: {listed}")

    def _on_progress(self, key: int, done: int, total: int) -> None:
        chip = self._chips.get(key)
        if chip is not None and total:
            chip.bar.setRange(0, total)
            chip.bar.setValue(done)
            chip.bar.setToolTip(f"page {done} of {total}")

    def _on_done(self, key: int, document: StoredDocument) -> None:
        self._reading.pop(key, None)
        chip = self._chips.get(key)
        if chip is None:
            return  # removed while it was read
        if any(c.document and c.document.id == document.id for c in self._chips.values()):
            self._drop_chip(key)  # the same file twice
            return
        self._settle(chip, document)
        self.added.emit(document)

    def _on_failed(self, key: int, message: str) -> None:
        self._reading.pop(key, None)
        if key in self._chips:
            self._drop_chip(key)
            self.problem.emit(message)

    # ---- removing --------------------------------------------------------------------------

    def remove(self, key: int) -> None:
        job = self._reading.pop(key, None)
        if job is not None:
            job.cancel.set()
        chip = self._drop_chip(key)
        if chip is not None and chip.document is not None:
            self.removed.emit(chip.document.id)
        if chip is not None and chip.collection is not None:
            self.collection_removed.emit(chip.collection.id)

    def _drop_chip(self, key: int) -> _Chip | None:
        chip = self._chips.pop(key, None)
        if chip is not None:
            self._flow.removeWidget(chip.widget)
            chip.widget.deleteLater()
        self.setVisible(bool(self._chips))
        return chip

    def forget_collection(self, collection_id: int) -> None:
        """A collection was deleted: its chip goes (the database already dropped its uses)."""
        for key, chip in list(self._chips.items()):
            if chip.collection is not None and chip.collection.id == collection_id:
                self._drop_chip(key)

    def clear(self) -> None:
        for job in self._reading.values():
            job.cancel.set()
        self._reading.clear()
        for key in list(self._chips):
            self._drop_chip(key)

    # ---- what is here ----------------------------------------------------------------------

    def documents(self) -> list[StoredDocument]:
        return [c.document for c in self._chips.values() if c.document is not None]

    def collections(self) -> list[StoredCollection]:
        return [c.collection for c in self._chips.values() if c.collection is not None]

    def document_ids(self) -> tuple[int, ...]:
        """Every document a question is answered from: its own, then its collections'."""
        ids = [d.id for d in self.documents()]
        ids += [i for c in self.collections() for i in c.document_ids]
        return tuple(dict.fromkeys(ids))

    @property
    def busy(self) -> bool:
        """Documents are still being read."""
        return bool(self._reading)
