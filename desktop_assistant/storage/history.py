"""Conversations and messages in SQLite: every write is committed as it happens.

A `History` is used from one thread (the storage thread in the app); all queries are indexed
and bounded. Deleting a conversation is a soft delete so it can be undone; `purge_deleted`
removes them for good.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_assistant.storage.database import open_database

STATES = ("complete", "streaming", "stopped", "failed", "interrupted")
TITLE_CHARS = 60


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float


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

    def list_conversations(self, limit: int = 10_000) -> list[ConversationSummary]:
        rows = self.db.execute(
            "SELECT id, title, created_at, updated_at FROM conversations "
            "WHERE deleted_at IS NULL ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        )
        return [ConversationSummary(r[0], r[1], r[2], r[3]) for r in rows]

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT id, title, system_prompt, created_at, updated_at, deleted_at "
            "FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        return dict(row) if row else None

    def rename(self, conversation_id: int, title: str) -> None:
        self.db.execute(
            "UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), conversation_id)
        )

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

    def purge_deleted(self, older_than_s: float = 0.0) -> int:
        cur = self.db.execute(
            "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
            (time.time() - older_than_s,),
        )
        return cur.rowcount

    # ---- messages ---------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        state: str = "complete",
        model: str = "",
    ) -> int:
        """Insert and commit one message; the first user message titles an untitled chat."""
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
        return int(cur.lastrowid or 0)

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

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self.db.execute(
            "SELECT id, conversation_id, role, content, state, created_at, updated_at, model, "
            "stats FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
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
            )
            for r in rows
        ]

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

    # ---- export and import ------------------------------------------------------------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        info = self.conversation(conversation_id)
        if info is None:
            raise KeyError(conversation_id)
        return {
            "format": "desktop-assistant-conversation",
            "version": 1,
            "title": info["title"],
            "system_prompt": info["system_prompt"],
            "created_at": info["created_at"],
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "state": m.state,
                    "created_at": m.created_at,
                    "model": m.model,
                    "stats": m.stats,
                }
                for m in self.messages(conversation_id)
            ],
        }

    def export_markdown(self, conversation_id: int) -> str:
        data = self.export_json(conversation_id)
        lines = [f"# {data['title'] or 'Conversation'}", ""]
        if data["system_prompt"]:
            lines += [f"*System prompt:* {data['system_prompt']}", ""]
        names = {"user": "You", "assistant": "Assistant", "system": "System"}
        for m in data["messages"]:
            suffix = "" if m["state"] == "complete" else f" ({m['state']})"
            lines += [f"## {names[m['role']]}{suffix}", "", m["content"], ""]
        return "\n".join(lines)

    def import_json(self, data: dict[str, Any]) -> int:
        if data.get("format") != "desktop-assistant-conversation":
            raise ValueError("not a Desktop Assistant conversation export")
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise ValueError("the export has no message list")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            cur = self.db.execute(
                "INSERT INTO conversations (title, system_prompt, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    str(data.get("title", "")),
                    str(data.get("system_prompt", "")),
                    float(data.get("created_at") or now),
                    now,
                ),
            )
            conversation_id = int(cur.lastrowid or 0)
            for m in messages:
                role, state = str(m["role"]), str(m.get("state", "complete"))
                if role not in ("system", "user", "assistant") or state not in STATES:
                    raise ValueError(f"bad message in the export: role {role!r}, state {state!r}")
                created = float(m.get("created_at") or now)
                self.db.execute(
                    "INSERT INTO messages (conversation_id, role, content, state, model, stats, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        conversation_id,
                        role,
                        str(m["content"]),
                        state,
                        str(m.get("model", "")),
                        json.dumps(m["stats"]) if m.get("stats") else None,
                        created,
                        created,
                    ),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return conversation_id
