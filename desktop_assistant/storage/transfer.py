"""A conversation as a file: Markdown to read, JSON to import again (with its attachments).

The JSON carries each message's attachments inline (base64 of the original bytes, with their
SHA-256 so an import can check them), the earlier versions of regenerated answers, and the
conversation's documents as their passages' text (what answers were given; the files
themselves are not kept). The sources saved with answers point at passages by row id, which an
import renumbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import asdict, replace
from typing import Any

from desktop_assistant.core.conversation import MessageState
from desktop_assistant.core.documents import Passage
from desktop_assistant.core.grounding import CitedSource
from desktop_assistant.storage.attachments import AttachmentStore, clean_hash, clean_suffix
from desktop_assistant.storage.documents import DocumentStore, RestoredDocument
from desktop_assistant.storage.history import STATES, History, StoredAttachment

FORMAT = "desktop-assistant-conversation"
log = logging.getLogger(__name__)
VERSION = 3  # 1: no attachments or versions; 2: no documents


def export_json(history: History, conversation_id: int, store: AttachmentStore) -> dict[str, Any]:
    info = history.conversation(conversation_id)
    if info is None:
        raise KeyError(conversation_id)
    messages = []
    for m in history.messages(conversation_id):
        item: dict[str, Any] = {
            "role": m.role,
            "content": m.content,
            "state": m.state,
            "created_at": m.created_at,
            "model": m.model,
            "stats": m.stats,
        }
        if m.attachments:
            item["attachments"] = [_attachment(store, a) for a in m.attachments]
        if m.versions > 1:
            item["versions"] = _versions(history, m.id)
            item["version"] = m.version
        messages.append(item)
    return {
        "format": FORMAT,
        "version": VERSION,
        "title": info.title,
        "system_prompt": info.system_prompt,
        "created_at": info.created_at,
        "messages": messages,
        "documents": _documents(history, conversation_id),
    }


def _documents(history: History, conversation_id: int) -> list[dict[str, Any]]:
    store = DocumentStore(history.db)
    return [
        {
            "name": d.name,
            "kind": d.kind,
            "pages": d.pages,
            "sha256": d.sha256,
            "passages": [
                {"id": h.passage_id, "page": h.page, "place": h.place, "text": h.text}
                for h in store.all_passages(d.id)
            ],
        }
        for d in store.of_conversation(conversation_id)
    ]


def _attachment(store: AttachmentStore, a: StoredAttachment) -> dict[str, Any]:
    found = store.find(a.sha256)
    data = found.path.read_bytes() if found is not None else None
    return {
        "kind": a.kind,
        "name": a.name,
        "suffix": a.suffix,
        "sha256": a.sha256,
        # None when the file was lost: the import keeps the reference and says nothing more
        "data": base64.b64encode(data).decode("ascii") if data is not None else None,
    }


def _versions(history: History, message_id: int) -> list[dict[str, Any]]:
    rows = history.db.execute(
        "SELECT position, content, state, model, stats, created_at FROM message_versions "
        "WHERE message_id = ? ORDER BY position",
        (message_id,),
    )
    return [
        {
            "position": r[0],
            "content": r[1],
            "state": r[2],
            "model": r[3],
            "stats": json.loads(r[4]) if r[4] else None,
            "created_at": r[5],
        }
        for r in rows
    ]


def export_markdown(history: History, conversation_id: int) -> str:
    info = history.conversation(conversation_id)
    if info is None:
        raise KeyError(conversation_id)
    lines = [f"# {info.title or 'Conversation'}", ""]
    if info.system_prompt:
        lines += [f"*System prompt:* {info.system_prompt}", ""]
    documents = DocumentStore(history.db).of_conversation(conversation_id)
    if documents:
        listed = ", ".join(f"{d.name} ({d.pages} {'pages' if d.kind == 'pdf' else 'parts'})"
                           for d in documents)  # fmt: skip
        lines += [f"*Documents:* {listed}", ""]
    names = {"user": "You", "assistant": "Assistant", "system": "System"}
    for m in history.messages(conversation_id):
        suffix = "" if m.state == MessageState.COMPLETE else f" ({m.state})"
        lines += [f"## {names[m.role]}{suffix}", ""]
        lines += [f"*Attached {a.kind}: {a.name or a.sha256[:12]}*" for a in m.attachments]
        if m.attachments:
            lines.append("")
        lines += [m.content, ""]
        sources = CitedSource.from_saved((m.stats or {}).get("sources"))
        if sources:
            lines += ["*Sources:* " + "; ".join(s.label() for s in sources), ""]
    return "\n".join(lines)


def import_json(history: History, data: dict[str, Any], store: AttachmentStore) -> int:
    """Add the exported conversation as a new one; returns its id. Raises ValueError for a
    file that is not such an export or is damaged (nothing is added then)."""
    if data.get("format") != FORMAT:
        raise ValueError("not a Desktop Assistant conversation export")
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise ValueError("the export has no message list")
    prepared = [_checked(m, store) for m in messages]  # files stored before the transaction
    documents = _checked_documents(data.get("documents"))
    db = history.db
    db.execute("BEGIN IMMEDIATE")
    try:
        passage_ids: dict[int, int] = {}  # the export's passage row -> this database's
        document_ids = []
        for document, exported_ids in documents:
            stored, new_ids = DocumentStore(db).restore(document)
            document_ids.append(stored)
            pairs = zip(exported_ids, new_ids, strict=True)
            passage_ids.update((old, new) for old, new in pairs if old and new)
        now = time.time()
        cur = db.execute(
            "INSERT INTO conversations (title, system_prompt, created_at, updated_at, "
            "title_from_user) VALUES (?, ?, ?, ?, 1)",
            (
                str(data.get("title", "")),
                str(data.get("system_prompt", "")),
                float(data.get("created_at") or now),
                now,
            ),
        )
        conversation_id = int(cur.lastrowid or 0)
        for m, attachments in prepared:
            created = float(m.get("created_at") or now)
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, content, state, model, stats, "
                "version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    m["role"],
                    str(m["content"]),
                    m.get("state", MessageState.COMPLETE),
                    str(m.get("model", "")),
                    _stats_json(m.get("stats"), passage_ids),
                    int(m.get("version", 0)),
                    created,
                    created,
                ),
            )
            message_id = int(cur.lastrowid or 0)
            history._insert_attachments(message_id, attachments)
            for v in m.get("versions") or []:
                db.execute(
                    "INSERT INTO message_versions (message_id, position, content, state, model, "
                    "stats, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        message_id,
                        int(v["position"]),
                        str(v["content"]),
                        str(v.get("state", MessageState.COMPLETE)),
                        str(v.get("model", "")),
                        _stats_json(v.get("stats"), passage_ids),
                        float(v.get("created_at") or created),
                    ),
                )
        for document_id in document_ids:
            db.execute(
                "INSERT OR IGNORE INTO conversation_documents "
                "(conversation_id, document_id, added_at) VALUES (?, ?, ?)",
                (conversation_id, document_id, now),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return conversation_id


def _checked(
    m: dict[str, Any], store: AttachmentStore
) -> tuple[dict[str, Any], list[StoredAttachment]]:
    role, state = str(m.get("role")), str(m.get("state", MessageState.COMPLETE))
    if role not in ("system", "user", "assistant") or state not in STATES or "content" not in m:
        raise ValueError(f"bad message in the export: role {role!r}, state {state!r}")
    attachments = []
    for a in m.get("attachments") or []:
        name = str(a.get("name", ""))
        kind = str(a.get("kind", "image"))
        try:  # a kind the app knows, and what the store itself accepts
            if kind not in ("image", "audio"):
                raise ValueError(kind)
            sha = clean_hash(str(a.get("sha256", "")))
            suffix = clean_suffix(str(a.get("suffix", "")))
        except ValueError:
            raise ValueError(f"bad attachment in the export: {name!r}") from None
        if a.get("data") is not None:
            raw = base64.b64decode(a["data"], validate=True)
            if hashlib.sha256(raw).hexdigest() != sha:
                raise ValueError(f"attachment {name!r} is damaged (checksum)")
            stored = store.put(raw, suffix)
            sha, suffix = stored.sha256, stored.suffix
        else:  # exported while its file was missing: only a file already here can be used
            found = store.find(sha)
            if found is None:
                log.info("import: attachment %r has no data and is not here; left out", name)
                continue
            suffix = found.suffix
        attachments.append(StoredAttachment(kind, sha, name, suffix))
    return m, attachments


def _stats_json(stats: Any, passage_ids: dict[int, int]) -> str | None:
    """Saved figures as stored, their sources pointing at this database's passages (a
    source whose passage did not come along keeps its name and place, without a link)."""
    if not stats:
        return None
    if isinstance(stats, dict) and isinstance(stats.get("sources"), list):
        sources = CitedSource.from_saved(stats["sources"])
        stats = {
            **stats,
            "sources": [
                asdict(replace(s, passage_id=passage_ids.get(s.passage_id, 0))) for s in sources
            ],
        }
    return json.dumps(stats)


def _checked_documents(items: Any) -> list[tuple[RestoredDocument, list[int]]]:
    """The exported documents, with the exported row id of each passage; ValueError for a
    malformed one."""
    found = []
    for item in items if isinstance(items, list) else ():
        try:
            rows = [(int(p.get("id", 0)), int(p["page"]), str(p["place"]), str(p["text"]))
                    for p in item["passages"]]  # fmt: skip
            document = RestoredDocument(
                str(item["name"]),
                str(item["kind"]),
                int(item["pages"]),
                clean_hash(str(item["sha256"])),
                [Passage(i, page, place, text) for i, (_, page, place, text) in enumerate(rows)],
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(f"bad document in the export: {str(item)[:80]}") from None
        found.append((document, [row[0] for row in rows]))
    return found
