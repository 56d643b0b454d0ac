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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from desktop_assistant.core.documents import Document, Passage, passages
from desktop_assistant.core.grounding import PASSAGES, WHOLE_WORDS, grounded_question
from desktop_assistant.core.paths import file_sha256

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
class StoredCollection:
    """A named folder of documents, usable in any conversation."""

    id: int
    name: str
    folder: str
    document_ids: tuple[int, ...]


@dataclass(frozen=True)
class Hit:
    document_id: int
    document: str  # its name
    page: int
    place: str  # "page 12" / "line 120"
    text: str
    score: float  # BM25 (lower is better, as SQLite gives it)
    passage_id: int = 0  # its row: what a source in an answer links to


@dataclass(frozen=True)
class RestoredDocument:
    """A document as an export carries it: its passages' text, not its file."""

    name: str
    kind: str
    pages: int
    sha256: str
    passages: list[Passage]


# A passage with its document's name, as a Hit is made from it (`_hit`).
_PASSAGES = (
    "SELECT p.document_id, d.name, p.page, p.place, p.text, p.id FROM passages p "
    "JOIN documents d ON d.id = p.document_id"
)


def _hit(row: Sequence, score: float = 0.0) -> Hit:
    """A Hit from a row of `_PASSAGES`' columns."""
    document_id, name, page, place, text, passage_id = row
    return Hit(document_id, name, page, place, text, score, passage_id)


UNUSED_KEPT_S = 24 * 3600  # a document no chat or collection uses is kept this long


class DocumentStore:
    """Over an open history database connection (`storage.database.open_database`).

    A document read by `ask --file`, or dropped into a chat that was never sent, belongs to
    nothing: it is kept for `UNUSED_KEPT_S` (asking again within a day reads nothing), then
    removed when the window opens the history or `ask --file` runs."""

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

    def restore(self, document: RestoredDocument) -> tuple[int, list[int]]:
        """Store an exported document (inside the caller's transaction); its row and its
        passages' rows in order. One already here (same bytes) is kept as it is."""
        known = self.find(document.sha256)
        if known is not None:
            rows = self.db.execute(
                "SELECT id FROM passages WHERE document_id = ? ORDER BY position", (known.id,)
            ).fetchall()
            ids = [row[0] for row in rows]
            return known.id, (ids + [0] * len(document.passages))[: len(document.passages)]
        cursor = self.db.execute(
            "INSERT INTO documents (sha256, name, kind, pages, created_at) VALUES (?, ?, ?, ?, ?)",
            (document.sha256, document.name, document.kind, document.pages, time.time()),
        )
        document_id = int(cursor.lastrowid or 0)
        ids = []
        for p in document.passages:
            cursor = self.db.execute(
                "INSERT INTO passages (document_id, position, page, place, text) "
                "VALUES (?, ?, ?, ?, ?)",
                (document_id, p.position, p.page, p.place, p.text),
            )
            ids.append(int(cursor.lastrowid or 0))
        return document_id, ids

    def known(self, path: Path) -> StoredDocument | None:
        """The stored document with this file's bytes, if any (None too when the file cannot
        be read: `read_document` then says why)."""
        try:
            return self.find(file_sha256(path))
        except OSError:
            return None

    def find(self, sha256: str) -> StoredDocument | None:
        row = self.db.execute(
            "SELECT id, name, kind, pages, sha256 FROM documents WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return StoredDocument(*row) if row else None

    def by_ids(self, document_ids: list[int]) -> list[StoredDocument]:
        """These documents, in this order; ones since removed are left out."""
        found = []
        for document_id in document_ids:
            row = self.db.execute(
                "SELECT id, name, kind, pages, sha256 FROM documents WHERE id = ?",
                (document_id,),
            ).fetchone()
            if row:
                found.append(StoredDocument(*row))
        return found

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
            f"{_PASSAGES} WHERE p.document_id = ? ORDER BY p.position", (document_id,)
        ).fetchall()
        return [_hit(row) for row in rows]

    def passage(self, passage_id: int) -> Hit | None:
        """One passage by its row (a source an answer named), or None once it is gone."""
        row = self.db.execute(f"{_PASSAGES} WHERE p.id = ?", (passage_id,)).fetchone()
        return _hit(row) if row else None

    def detach(self, conversation_id: int, document_id: int) -> None:
        with self.db:
            self.db.execute(
                "DELETE FROM conversation_documents WHERE conversation_id = ? AND document_id = ?",
                (conversation_id, document_id),
            )

    def search(self, question: str, document_ids: list[int], limit: int = 5) -> list[Hit]:
        """The passages of these documents that best match the question (BM25), best
        first; none when no word of the question is in them."""
        query = match_query(question)
        if not query or not document_ids:
            return []
        marks = ",".join("?" * len(document_ids))
        rows = self.db.execute(
            "SELECT p.document_id, d.name, p.page, p.place, p.text, p.id, "
            "bm25(passages_fts) AS score "
            "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
            "JOIN documents d ON d.id = p.document_id "
            f"WHERE passages_fts MATCH ? AND p.document_id IN ({marks}) "
            "ORDER BY score LIMIT ?",
            (query, *document_ids, limit),
        ).fetchall()
        return [_hit(row[:6], row[6]) for row in rows]

    # ---- collections ----------------------------------------------------------------------

    def collection(self, name: str, folder: str) -> int:
        """The collection of this folder (made, under `name`, when there is none yet)."""
        row = self.db.execute("SELECT id FROM collections WHERE folder = ?", (folder,)).fetchone()
        if row:
            return int(row[0])
        taken = {r[0] for r in self.db.execute("SELECT name FROM collections")}
        unique, n = name, 2
        while unique in taken:  # two folders of the same name
            unique, n = f"{name} ({n})", n + 1
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO collections (name, folder, created_at) VALUES (?, ?, ?)",
                (unique, folder, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def set_collection_documents(self, collection_id: int, documents: dict[int, str]) -> None:
        """The collection holds these documents now ({id: path in the folder}); documents it
        no longer holds are forgotten unless something else uses them."""
        old = [r[0] for r in self.db.execute(
            "SELECT document_id FROM collection_documents WHERE collection_id = ?",
            (collection_id,),
        )]  # fmt: skip
        with self.db:
            self.db.execute(
                "DELETE FROM collection_documents WHERE collection_id = ?", (collection_id,)
            )
            self.db.executemany(
                "INSERT OR IGNORE INTO collection_documents (collection_id, document_id, path) "
                "VALUES (?, ?, ?)",
                [(collection_id, d, path) for d, path in documents.items()],
            )
        self.forget_unused(among=[d for d in old if d not in documents])

    def collections(self, ids: list[int] | None = None) -> list[StoredCollection]:
        """All collections by name (or these, in this order)."""
        rows = self.db.execute("SELECT id, name, folder FROM collections ORDER BY name").fetchall()
        if ids is not None:
            by_id = {row[0]: row for row in rows}
            rows = [by_id[i] for i in ids if i in by_id]
        found = []
        for collection_id, name, folder in rows:
            members = self.db.execute(
                "SELECT document_id FROM collection_documents WHERE collection_id = ? "
                "ORDER BY path",
                (collection_id,),
            ).fetchall()
            found.append(
                StoredCollection(collection_id, name, folder, tuple(m[0] for m in members))
            )
        return found

    def use_collection(self, conversation_id: int, collection_id: int, used: bool = True) -> None:
        with self.db:
            if used:
                self.db.execute(
                    "INSERT OR IGNORE INTO conversation_collections "
                    "(conversation_id, collection_id, added_at) VALUES (?, ?, ?)",
                    (conversation_id, collection_id, time.time()),
                )
            else:
                self.db.execute(
                    "DELETE FROM conversation_collections WHERE conversation_id = ? "
                    "AND collection_id = ?",
                    (conversation_id, collection_id),
                )

    def collections_of(self, conversation_id: int) -> list[StoredCollection]:
        ids = [r[0] for r in self.db.execute(
            "SELECT collection_id FROM conversation_collections WHERE conversation_id = ? "
            "ORDER BY added_at",
            (conversation_id,),
        )]  # fmt: skip
        return self.collections(ids)

    def delete_collection(self, collection_id: int) -> None:
        """The collection goes (from every chat that used it), and its documents with it
        unless a conversation or another collection uses them."""
        members = [r[0] for r in self.db.execute(
            "SELECT document_id FROM collection_documents WHERE collection_id = ?",
            (collection_id,),
        )]  # fmt: skip
        with self.db:
            self.db.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
        self.forget_unused(among=members)

    def forget_unused(self, among: list[int] | None = None, older_than_s: float = 0.0) -> int:
        """Remove documents (`among` these, or any read more than `older_than_s` ago) that no
        conversation or collection uses any more, with their passages; merge the passage
        index so that their words leave the file. How many were removed."""
        unused = (
            "id NOT IN (SELECT document_id FROM conversation_documents) AND "
            "id NOT IN (SELECT document_id FROM collection_documents)"
        )
        removed = 0
        with self.db:
            if among is None:
                removed = self.db.execute(
                    f"DELETE FROM documents WHERE {unused} AND created_at < ?",
                    (time.time() - older_than_s,),
                ).rowcount
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


# ---- a question with its sources, within a model's context ------------------------------

Count = Callable[[str], int]  # tokens in a text, as the model counts them


def sources_for(
    store: DocumentStore, question: str, documents: list[StoredDocument], budget: int,
    count: Count,
) -> list[Hit]:  # fmt: skip
    """Short documents whole (`WHOLE_WORDS` in all), else the best `PASSAGES` passages; as
    many as fit `budget` tokens (the model's context less the question and its answer), the
    best first."""
    ids = [d.id for d in documents]
    whole = [hit for i in ids for hit in store.all_passages(i)]
    short = sum(len(h.text.split()) for h in whole) <= WHOLE_WORDS
    if short and sum(count(h.text) + 12 for h in whole) <= budget:
        return whole
    hits: list[Hit] = []
    used = 0
    for hit in store.search(question, ids, PASSAGES):
        tokens = count(hit.text) + 12  # and its "[n] name, page" line
        if used + tokens > budget:
            if hits:
                break
            words = hit.text.split()  # a tiny context: the best passage, cut to fit
            keep = max(10, len(words) * max(budget, 0) // max(tokens, 1))
            hit = replace(hit, text=" ".join(words[:keep]))
        hits.append(hit)
        used += tokens
    return hits


def token_counter(engine: object) -> Count:
    """The engine's own count where it has a tokenizer, else about 1.4 tokens a word."""
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "encode"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return lambda text: int(len(text.split()) * 1.4) + 1


def grounded(
    store: DocumentStore,
    question: str,
    documents: list[StoredDocument],
    engine: object,
    answer_tokens: int,
    given: Sequence[int] = (),
    lost: Collection[int] = (),
) -> tuple[str, list[Hit], list[int]]:
    """The question with its sources, within the engine's context (a remote server's is not
    known here: 32k tokens are assumed); the sources that match it, and each one's number.

    `given`: the passages (rows) given with earlier questions of the conversation, in number
    order ([1] first). Those are not given again but named by their number, so that the
    prompt up to the new question is the one the model has read (its KV cache is reused) and
    a follow-up about the same passages costs only its own words. `lost`: numbers of those
    the model no longer reads (their question was left out of a prompt too long for its
    context); one that matches is given again, under its number."""
    count = token_counter(engine)
    context = getattr(engine, "context_tokens", 0) or 32_768
    names = [d.name for d in documents]
    spare = context - answer_tokens - count(grounded_question(question, [], names)) - 96
    hits = sources_for(store, question, documents, spare, count)
    numbers = {passage: n for n, passage in enumerate(given, 1)}
    old: list[Hit] = []  # given before and still read: named by number
    again: list[Hit] = []  # given before but lost: given again under their number
    new: list[Hit] = []
    for hit in hits:
        n = numbers.get(hit.passage_id)
        (new if n is None else again if n in lost else old).append(hit)
    first = len(given) + 1
    labels = [numbers[h.passage_id] for h in again] + list(range(first, first + len(new)))
    earlier = sorted(numbers[h.passage_id] for h in old)
    text = grounded_question(question, again + new, names, first, earlier, labels)
    return text, old + again + new, [numbers[h.passage_id] for h in old] + labels
