"""The documents' passages in the database, and finding the ones that answer a question
(issue 22).

A document is stored once by the hash of its bytes (`core.documents.read_document`): the
same file dropped into ten chats, or asked about again from the command line, is read once.
Retrieval is SQLite's FTS5 with BM25 over the passages (no model to download): the
question's words, less the common ones, any of which may match; the best passages of the
documents in question come first.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

from desktop_assistant.core.documents import Document, passages

# Words that say nothing about where an answer is (a question's own words mostly).
_STOP_WORDS = """
    a an and are as at be but by can could did do does for from had has have how i if in into
    is it its me my no not of on or our say says said should so than that the their them then
    there these they this those to was we were what when where which who whom why will with
    would you your about tell please give find show list document documents file files text
    page pages according
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class StoredDocument:
    id: int
    name: str
    kind: str
    pages: int
    sha256: str


@dataclass(frozen=True)
class Hit:
    document_id: int
    document: str  # its name
    page: int
    place: str  # "page 12" / "line 120"
    text: str
    score: float  # BM25 (lower is better, as SQLite gives it)


class DocumentStore:
    """Over an open history database connection (`storage.database.open_database`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, document: Document) -> StoredDocument:
        """Store `document` and its passages, unless a document with the same bytes is
        stored already (then that one)."""
        known = self.find(document.sha256)
        if known is not None:
            return known
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO documents (sha256, name, kind, pages, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (document.sha256, document.name, document.kind, len(document.pages), time.time()),
            )
            document_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO passages (document_id, position, page, place, text) "
                "VALUES (?, ?, ?, ?, ?)",
                [(document_id, p.position, p.page, p.place, p.text) for p in passages(document)],
            )
        found = self.find(document.sha256)
        assert found is not None
        return found

    def find(self, sha256: str) -> StoredDocument | None:
        row = self.db.execute(
            "SELECT id, name, kind, pages, sha256 FROM documents WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return StoredDocument(*row) if row else None

    def attach(self, conversation_id: int, document_id: int) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO conversation_documents "
                "(conversation_id, document_id, added_at) VALUES (?, ?, ?)",
                (conversation_id, document_id, time.time()),
            )

    def of_conversation(self, conversation_id: int) -> list[StoredDocument]:
        rows = self.db.execute(
            "SELECT d.id, d.name, d.kind, d.pages, d.sha256 FROM documents d "
            "JOIN conversation_documents c ON c.document_id = d.id "
            "WHERE c.conversation_id = ? ORDER BY c.added_at, d.id",
            (conversation_id,),
        ).fetchall()
        return [StoredDocument(*row) for row in rows]

    def all_passages(self, document_id: int) -> list[Hit]:
        """Every passage of a document, in order (a short one goes into the prompt whole)."""
        rows = self.db.execute(
            "SELECT p.document_id, d.name, p.page, p.place, p.text FROM passages p "
            "JOIN documents d ON d.id = p.document_id WHERE p.document_id = ? "
            "ORDER BY p.position",
            (document_id,),
        ).fetchall()
        return [Hit(row[0], row[1], row[2], row[3], row[4], 0.0) for row in rows]

    def search(self, question: str, document_ids: list[int], limit: int = 5) -> list[Hit]:
        """The passages of these documents that best match the question (BM25), best
        first; none when no word of the question is in them."""
        query = match_query(question)
        if not query or not document_ids:
            return []
        marks = ",".join("?" * len(document_ids))
        rows = self.db.execute(
            "SELECT p.document_id, d.name, p.page, p.place, p.text, bm25(passages_fts) AS score "
            "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
            "JOIN documents d ON d.id = p.document_id "
            f"WHERE passages_fts MATCH ? AND p.document_id IN ({marks}) "
            "ORDER BY score LIMIT ?",
            (query, *document_ids, limit),
        ).fetchall()
        return [Hit(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]

    def forget_unused(self, among: list[int] | None = None) -> int:
        """Remove documents (`among` these, or any) that no conversation or collection uses
        any more, with their passages; merge the passage index so that their words leave the
        file. How many were removed."""
        unused = (
            "id NOT IN (SELECT document_id FROM conversation_documents) AND "
            "id NOT IN (SELECT document_id FROM collection_documents)"
        )
        removed = 0
        with self.db:
            if among is None:
                removed = self.db.execute(f"DELETE FROM documents WHERE {unused}").rowcount
            for document_id in among or ():
                removed += self.db.execute(
                    f"DELETE FROM documents WHERE id = ? AND {unused}", (document_id,)
                ).rowcount
            if removed:  # fts5 only marks deleted rows: 'optimize' rewrites its segments
                self.db.execute("INSERT INTO passages_fts (passages_fts) VALUES ('optimize')")
        return removed


def match_query(question: str) -> str:
    """An FTS5 query from a question: its words (quoted, so none is read as an operator),
    less the common ones, any of them matching."""
    words = [w for w in re.findall(r"\w+", question.lower()) if w not in STOP_WORDS]
    unique = list(dict.fromkeys(w for w in words if len(w) > 1 or w.isdigit()))
    return " OR ".join(f'"{w}"' for w in unique)
