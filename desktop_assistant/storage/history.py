"""Conversations and messages in SQLite: every write is committed as it happens.

A `History` is used from one thread (the storage thread in the app); all queries are indexed
and bounded. Deleting a conversation is a soft delete so it can be undone; `purge_deleted`
removes them for good: their rows (messages, versions and attachment rows go with them), their
words in the search index (merged away, not only marked deleted), and, with `secure_delete` on
and the write-ahead log truncated, their bytes in the file; the caller removes the attached
files no other message uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop_assistant.core.conversation import Conversation, MessageState
from desktop_assistant.storage.database import open_database
from desktop_assistant.storage.documents import DocumentStore

STATES = tuple(MessageState)
TITLE_CHARS = 60


@dataclass(frozen=True)
class StoredAttachment:
    kind: str  # "image" or "audio"
    sha256: str  # the file's name in the attachment store
    name: str = ""  # the file name the user gave it
    suffix: str = ""  # ".png", ".wav": how the stored file is named


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    state: str
    created_at: float
    updated_at: float
    model: str = ""
    stats: dict | None = None
    version: int = 0  # which answer of a regenerated message this is (0: the first)
    versions: int = 1  # how many answers the message has had
    attachments: tuple[StoredAttachment, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    snippet: str  # with the matched words between HIGHLIGHT_START and HIGHLIGHT_END


HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"


def title_from(text: str) -> str:
    """A conversation title from the first question: its first line, shortened at a word."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut or line[:TITLE_CHARS]).rstrip(" ,.;:") + "…"


FILLER_OPENINGS = (
    "hey",
    "hi",
    "hello",
    "please",
    "can you",
    "could you",
    "would you",
    "can u",
    "i want you to",
    "i need you to",
)


def title_from_exchange(question: str, answer: str) -> str:
    """A title from the first question and answer: the question without polite openings, or
    the answer's first line when the question is too short to say much ("hi", "help")."""
    line = next((part.strip() for part in question.splitlines() if part.strip()), "")
    lowered = line.lower()
    changed = True
    while changed:
        changed = False
        for opening in FILLER_OPENINGS:
            if lowered.startswith(opening + " ") or lowered.startswith(opening + ","):
                line = line[len(opening) :].lstrip(" ,")
                lowered = line.lower()
                changed = True
    line = line.rstrip(" .")
    if len(line.split()) < 3:
        first = next((part.strip() for part in answer.splitlines() if part.strip()), "")
        first = first.lstrip("#").strip().strip("*").strip()
        if len(first.split()) >= 3:
            line = first
    return title_from(line[:1].upper() + line[1:]) if line else title_from(question)


def fts_query(text: str) -> str:
    """User text as an FTS5 query: every word must appear (as a prefix for the last one);
    quotes make FTS syntax characters plain text."""
    words = [w.replace('"', '""') for w in text.split()]
    if not words:
        return ""
    parts = [f'"{w}"' for w in words[:-1]] + [f'"{words[-1]}"*']
    return " ".join(parts)


class History:
    def __init__(self, path: Path) -> None:
        opened = open_database(path)
        self.db = opened.connection
        self.path = path
        self.moved_aside = opened.moved_aside

    def close(self) -> None:
        self.db.close()

    # ---- conversations ----------------------------------------------------------------------

    def create_conversation(self, title: str = "", system_prompt: str = "") -> int:
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO conversations (title, system_prompt, created_at, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (title, system_prompt, now, now),
        )
        return int(cur.lastrowid or 0)

    def list_conversations(self, limit: int = 10_000) -> list[Conversation]:
        """The conversations not deleted, the latest first."""
        rows = self.db.execute(
            "SELECT id, title, system_prompt, created_at, updated_at FROM conversations "
            "WHERE deleted_at IS NULL ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        )
        return [Conversation(*row) for row in rows]

    def conversation(self, conversation_id: int) -> Conversation | None:
        """One conversation, deleted ones too until they are purged."""
        row = self.db.execute(
            "SELECT id, title, system_prompt, created_at, updated_at "
            "FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        return Conversation(*row) if row else None

    def rename(self, conversation_id: int, title: str) -> None:
        """A title the user chose; automatic titles never replace it."""
        self.db.execute(
            "UPDATE conversations SET title = ?, title_from_user = 1 WHERE id = ?",
            (title.strip(), conversation_id),
        )

    def title_after_first_answer(self, conversation_id: int) -> str | None:
        """Retitle a chat from its first exchange once the first answer is complete.

        Returns the new title, or None when the user named the chat or it is past its first
        exchange."""
        info = self.db.execute(
            "SELECT title_from_user FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if info is None or info[0]:
            return None
        rows = self.db.execute(
            "SELECT role, content FROM messages WHERE conversation_id = ? AND role != 'system' "
            "ORDER BY id LIMIT 3",
            (conversation_id,),
        ).fetchall()
        if len(rows) != 2 or rows[0][0] != "user" or rows[1][0] != "assistant":
            return None
        title = title_from_exchange(rows[0][1], rows[1][1])
        self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
        return title

    def set_system_prompt(self, conversation_id: int, prompt: str) -> None:
        self.db.execute(
            "UPDATE conversations SET system_prompt = ? WHERE id = ?", (prompt, conversation_id)
        )

    def delete_conversation(self, conversation_id: int) -> None:
        self.db.execute(
            "UPDATE conversations SET deleted_at = ? WHERE id = ?", (time.time(), conversation_id)
        )

    def undo_delete(self, conversation_id: int) -> None:
        self.db.execute(
            "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
        )

    def purge_deleted(self, conversation_id: int | None = None) -> set[str]:
        """Remove deleted conversations for good: one (if it is deleted) or all of them.
        Returns the digests of attached files no message refers to any more."""
        chosen = "c.deleted_at IS NOT NULL" + ("" if conversation_id is None else " AND c.id = ?")
        args: tuple[int, ...] = () if conversation_id is None else (conversation_id,)
        hashes = {
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT a.sha256 FROM attachments a "
                "JOIN messages m ON m.id = a.message_id "
                f"JOIN conversations c ON c.id = m.conversation_id WHERE {chosen}",
                args,
            )
        }
        documents = [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT d.document_id FROM conversation_documents d "
                f"JOIN conversations c ON c.id = d.conversation_id WHERE {chosen}",
                args,
            )
        ]
        removed = self.db.execute(
            "DELETE FROM conversations WHERE id IN "
            f"(SELECT c.id FROM conversations c WHERE {chosen})",
            args,
        ).rowcount
        if not removed:
            return set()
        DocumentStore(self.db).forget_unused(among=documents)  # theirs, unless shared
        # fts5 only marks deleted rows; 'optimize' merges the index so their words are gone
        self.db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the log held the old pages
        return hashes - self.attachment_hashes()

    # ---- messages ---------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        state: str = MessageState.COMPLETE,
        model: str = "",
        attachments: Sequence[StoredAttachment] = (),
    ) -> int:
        """Insert and commit one message (with its attachments); the first user message
        titles an untitled chat."""
        if state not in STATES:
            raise ValueError(f"unknown message state {state!r}")
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT INTO messages (conversation_id, role, content, state, model, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, state, model, now, now),
            )
            message_id = int(cur.lastrowid or 0)
            self._insert_attachments(message_id, attachments)
            self.db.execute(
                "UPDATE conversations SET updated_at = ?, "
                "title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END "
                "WHERE id = ?",
                (now, role, title_from(content), conversation_id),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return message_id

    def _insert_attachments(self, message_id: int, attachments: Sequence[StoredAttachment]) -> None:
        self.db.executemany(
            "INSERT INTO attachments (message_id, position, kind, sha256, name, suffix) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (message_id, i, a.kind, a.sha256, a.name, a.suffix)
                for i, a in enumerate(attachments)
            ],
        )

    def update_message(
        self,
        message_id: int,
        content: str,
        state: str | None = None,
        stats: dict | None = None,
    ) -> None:
        """Commit the text streamed so far (and, at the end, the final state and stats)."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown message state {state!r}")
        self.db.execute(
            "UPDATE messages SET content = ?, state = COALESCE(?, state), "
            "stats = COALESCE(?, stats), updated_at = ? WHERE id = ?",
            (content, state, json.dumps(stats) if stats else None, time.time(), message_id),
        )

    def delete_message(self, message_id: int) -> None:
        self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def delete_after(self, message_id: int) -> int:
        """Delete the messages that follow one (editing a question re-asks it from there)."""
        cur = self.db.execute(
            "DELETE FROM messages WHERE id > ? AND conversation_id = "
            "(SELECT conversation_id FROM messages WHERE id = ?)",
            (message_id, message_id),
        )
        return cur.rowcount

    # ---- versions of an answer --------------------------------------------------------------

    def new_version(self, message_id: int) -> int:
        """Keep the current answer as an earlier version and empty the message for a new one.

        Returns the new version's number."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._archive(message_id)
            number = self.db.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM message_versions WHERE message_id = ?",
                (message_id,),
            ).fetchone()[0]
            self.db.execute(
                "UPDATE messages SET content = '', state = 'streaming', stats = NULL, "
                "version = ?, updated_at = ? WHERE id = ?",
                (number, time.time(), message_id),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return int(number)

    def select_version(self, message_id: int, number: int) -> StoredMessage | None:
        """Show (and use as context) an earlier or later version of an answer."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute(
                "SELECT content, state, model, stats FROM message_versions "
                "WHERE message_id = ? AND position = ?",
                (message_id, number),
            ).fetchone()
            if row is not None:
                self._archive(message_id)
                self.db.execute(
                    "DELETE FROM message_versions WHERE message_id = ? AND position = ?",
                    (message_id, number),
                )
                self.db.execute(
                    "UPDATE messages SET content = ?, state = ?, model = ?, stats = ?, "
                    "version = ? WHERE id = ?",
                    (row[0], row[1], row[2], row[3], number, message_id),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return self.message(message_id)

    def _archive(self, message_id: int) -> None:
        self.db.execute(
            "INSERT INTO message_versions (message_id, position, content, state, model, stats, "
            "created_at) SELECT id, version, content, state, model, stats, updated_at "
            "FROM messages WHERE id = ?",
            (message_id,),
        )

    # ---- reading ----------------------------------------------------------------------------

    _SELECT = (
        "SELECT id, conversation_id, role, content, state, created_at, updated_at, model, "
        "stats, version, (SELECT COUNT(*) FROM message_versions v WHERE v.message_id = m.id) "
        "FROM messages m "
    )

    def message(self, message_id: int) -> StoredMessage | None:
        rows = self.db.execute(self._SELECT + "WHERE id = ?", (message_id,)).fetchall()
        found = self._stored(rows, self._attachments("a.message_id = ?", message_id))
        return found[0] if found else None

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self.db.execute(
            self._SELECT + "WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        return self._stored(rows, self._attachments("m.conversation_id = ?", conversation_id))

    def _attachments(self, where: str, value: int) -> dict[int, list[StoredAttachment]]:
        found: dict[int, list[StoredAttachment]] = {}
        for r in self.db.execute(
            "SELECT a.message_id, a.kind, a.sha256, a.name, a.suffix FROM attachments a "
            f"JOIN messages m ON m.id = a.message_id WHERE {where} "
            "ORDER BY a.message_id, a.position",
            (value,),
        ):
            found.setdefault(r[0], []).append(StoredAttachment(r[1], r[2], r[3], r[4]))
        return found

    @staticmethod
    def _stored(rows: list, attachments: dict[int, list[StoredAttachment]]) -> list[StoredMessage]:
        return [
            StoredMessage(
                id=r[0],
                conversation_id=r[1],
                role=r[2],
                content=r[3],
                state=r[4],
                created_at=r[5],
                updated_at=r[6],
                model=r[7],
                stats=json.loads(r[8]) if r[8] else None,
                version=r[9],
                versions=r[10] + 1,
                attachments=tuple(attachments.get(r[0], ())),
            )
            for r in rows
        ]

    def attachment_hashes(self) -> set[str]:
        """Every stored file some message still refers to (the rest may be removed)."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT sha256 FROM attachments")}

    def mark_interrupted(self) -> int:
        """At start-up: answers that were streaming when the app died are 'interrupted'."""
        cur = self.db.execute("UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'")
        return cur.rowcount

    # ---- search -----------------------------------------------------------------------------

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        query = fts_query(text)
        if not query:
            return []
        rows = self.db.execute(
            "SELECT m.conversation_id, m.id, c.title, "
            "snippet(messages_fts, 0, ?, ?, '…', 12) "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH ? AND c.deleted_at IS NULL "
            "ORDER BY rank LIMIT ?",
            (HIGHLIGHT_START, HIGHLIGHT_END, query, limit),
        )
        return [SearchHit(r[0], r[1], r[2], r[3]) for r in rows]
