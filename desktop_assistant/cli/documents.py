"""`ask --file`: questions about documents on the command line (issue 22). The files are read
into the history database (once per content: asking again reads nothing) and the question is
put to the model with the passages that match it (`storage.documents.grounded`, as in the
window); the answer ends with its sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop_assistant.core.documents import read_document
from desktop_assistant.storage.documents import DocumentStore, StoredDocument


def stored_documents(
    store: DocumentStore, files: list[str], progress: Callable[[str], None]
) -> list[StoredDocument]:
    """Each file as stored (read now only when its bytes were never read before)."""
    found = []
    for name in files:
        path = Path(name).expanduser()
        known = store.known(path)
        if known is not None:
            found.append(known)
            continue

        def pages(done: int, total: int, label: str = path.name) -> None:
            progress(f"Reading {label}: page {done} of {total}…")

        progress(f"Reading {path.name}…")
        found.append(store.add(read_document(path, progress=pages)))
    return found
