"""The SQLite database: opening, pragmas, schema migrations, and recovery from a bad file.

WAL mode (readers never block the writer), foreign keys on, `synchronous=FULL` so a committed
message survives a power cut, not only a crash. The schema version lives in
`PRAGMA user_version`; each migration is a small function run in its own transaction.
A database written by a newer version of the app is refused, never modified. A file that is
not a database (or is corrupt) is moved aside with a timestamp and a fresh one is created;
any other error (locked, read-only, disk full) leaves it untouched (`HistoryUnavailable`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop_assistant.core.errors import UserError

log = logging.getLogger(__name__)


def _v1() -> str:
    return """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'complete',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
        """


def _v2() -> str:
    """Generation stats and model per message; soft delete (undo) and system prompts."""
    return """
        ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
        ALTER TABLE messages ADD COLUMN stats TEXT;
        ALTER TABLE conversations ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
        ALTER TABLE conversations ADD COLUMN deleted_at REAL;
        CREATE INDEX conversations_by_update ON conversations (deleted_at, updated_at DESC);
        """


def _v3() -> str:
    """Full-text search over message text, kept in step by triggers."""
    return """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id', tokenize='unicode61'
        );
        INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages;
        CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        """


def _v4() -> str:
    """Earlier versions of regenerated answers, attached files, titles the user chose."""
    return """
        CREATE TABLE message_versions (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            content TEXT NOT NULL,
            state TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            stats TEXT,
            created_at REAL NOT NULL,
            UNIQUE (message_id, position)
        );
        ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL DEFAULT 0,
            kind TEXT NOT NULL CHECK (kind IN ('image', 'audio')),
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            suffix TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX attachments_by_message ON attachments (message_id, position);
        CREATE INDEX attachments_by_hash ON attachments (sha256);
        ALTER TABLE conversations ADD COLUMN title_from_user INTEGER NOT NULL DEFAULT 0;
        """


def _v5() -> str:
    """Documents (issue 22): each file's text once, by content hash, cut into passages with
    full-text search (BM25, Porter-stemmed: "reading" finds "read"), attached to
    conversations or gathered in named collections. Passages keep their text, so another
    index (embeddings) can be added beside this one without reading the files again."""
    return """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            pages INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            page INTEGER NOT NULL,
            place TEXT NOT NULL,
            text TEXT NOT NULL,
            UNIQUE (document_id, position)
        );
        CREATE VIRTUAL TABLE passages_fts USING fts5(
            text, content='passages', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
            INSERT INTO passages_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
            INSERT INTO passages_fts (passages_fts, rowid, text)
            VALUES ('delete', old.id, old.text);
        END;
        CREATE TABLE conversation_documents (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            added_at REAL NOT NULL,
            PRIMARY KEY (conversation_id, document_id)
        );
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            folder TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );
        CREATE TABLE collection_documents (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            path TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (collection_id, document_id)
        );
        """


def _v6() -> str:
    """A collection (a folder of documents, read once) used by a conversation."""
    return """
        CREATE TABLE conversation_collections (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            added_at REAL NOT NULL,
            PRIMARY KEY (conversation_id, collection_id)
        );
        """


MIGRATIONS: tuple[Callable[[], str], ...] = (_v1, _v2, _v3, _v4, _v5, _v6)  # each returns its SQL
SCHEMA_VERSION = len(MIGRATIONS)


class DatabaseTooNew(UserError):
    """The file was written by a newer version of the app."""


class HistoryUnavailable(UserError):
    """The file could not be opened for a reason other than damage (in use by another
    program, read-only, disk full, an I/O error); it was left untouched."""


class _Damaged(sqlite3.DatabaseError):
    """PRAGMA quick_check found the file damaged."""


# What moving a file aside may answer: SQLite says the file is damaged or not a database.
CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
BUSY_TIMEOUT_MS = 5000  # how long to wait for another connection's lock


@dataclass(frozen=True)
class Opened:
    connection: sqlite3.Connection
    moved_aside: Path | None  # where a corrupt file was moved, to tell the user


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")  # deleted text is overwritten, not left in free pages
    db.execute("PRAGMA synchronous = FULL")
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
    return db


def check_version(db: sqlite3.Connection) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise DatabaseTooNew(
            f"the history database was written by a newer version of Desktop Assistant "
            f"(schema {version}, this version knows {SCHEMA_VERSION}); update the app. "
            "The file was left untouched."
        )
    return version


def migrate(db: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations, each in its own transaction; returns the new version."""
    version = check_version(db)
    db.execute("PRAGMA journal_mode = WAL")  # changes the file: only after the version check
    for number in range(version + 1, upto + 1):
        sql = MIGRATIONS[number - 1]()
        try:  # executescript commits first, so the transaction is part of the script
            db.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return max(version, upto)


def open_database(path: Path) -> Opened:
    """Open (creating or migrating) the database; a corrupt file is moved aside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    moved: Path | None = None
    for attempt in range(2):
        db: sqlite3.Connection | None = None
        try:
            db = connect(path)
            check_version(db)
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise _Damaged("quick_check failed")
            migrate(db)
            return Opened(db, moved)
        except DatabaseTooNew:
            raise
        except sqlite3.DatabaseError as err:
            if not _damaged(err):
                if db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        db.close()
                raise HistoryUnavailable(_why(path, err)) from err
            if attempt:
                raise
            log.error("history database %s unreadable (%s); moving it aside", path, err)
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            moved = _move_aside(path)
    raise AssertionError("unreachable")


def _damaged(err: sqlite3.DatabaseError) -> bool:
    """Only real damage may move a history aside: a locked, read-only or full disk must not
    (it used to: any error at start renamed a healthy file and started an empty one)."""
    return isinstance(err, _Damaged) or getattr(err, "sqlite_errorcode", None) in CORRUPT


def _why(path: Path, err: sqlite3.DatabaseError) -> str:
    code = getattr(err, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        reason = "it is in use by another program (is Desktop Assistant already running?)"
    else:
        reason = str(err)
    return f"the conversation history {path} cannot be opened: {reason}; it was left untouched"


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(target.with_name(target.name + suffix))
    return target
