"""Documents in the history database (issue 22): stored once by content, passages found by
BM25, attached to conversations and gone with them."""

from __future__ import annotations

import time

import pytest

from desktop_assistant.core.documents import Document, Page
from desktop_assistant.storage.database import open_database
from desktop_assistant.storage.documents import DocumentStore, match_query

FILLER = "The committee discussed the budget, the schedule and the staffing of the project. "


def document(name, pages, sha="") -> Document:
    return Document(name, "pdf", sha or name, tuple(Page(n, t) for n, t in enumerate(pages, 1)))


@pytest.fixture
def store(tmp_path):
    db = open_database(tmp_path / "history.sqlite3").connection
    yield DocumentStore(db)
    db.close()


def test_a_document_is_stored_once_and_the_right_page_is_found(store):
    pages = [FILLER * 30 for _ in range(12)]
    pages[7] = FILLER * 5 + "The lighthouse keeper was paid forty shillings a month. " + FILLER * 5
    report = store.add(document("report.pdf", pages))
    again = store.add(document("renamed.pdf", pages, sha="report.pdf"))
    assert again == report and report.pages == 12
    count = store.db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert count == 1
    hits = store.search("How much was the lighthouse keeper paid?", [report.id])
    assert hits and hits[0].page == 8 and hits[0].place == "page 8"
    assert "forty shillings" in hits[0].text and hits[0].document == "report.pdf"
    assert store.search("keepers paying", [report.id])[0].page == 8  # stemmed: keeper, paid
    assert store.search("zeppelin", [report.id]) == []
    assert store.search("what is it?", [report.id]) == []  # nothing but common words


def test_only_the_documents_asked_about_are_searched(store):
    a = store.add(document("a.pdf", ["apples grow on trees in the orchard"]))
    b = store.add(document("b.pdf", ["apples are sold at the market"]))
    assert {h.document for h in store.search("apples", [a.id])} == {"a.pdf"}
    assert {h.document for h in store.search("apples", [a.id, b.id])} == {"a.pdf", "b.pdf"}


def test_documents_go_with_their_conversation(store):
    db = store.db
    now = time.time()
    conversation = db.execute(
        "INSERT INTO conversations (title, created_at, updated_at) VALUES ('c', ?, ?)", (now, now)
    ).lastrowid
    kept = store.add(document("kept.pdf", ["kept text"]))
    store.attach(conversation, kept.id)
    store.attach(conversation, kept.id)  # twice: once
    store.add(document("loose.pdf", ["loose text"]))
    assert [d.name for d in store.of_conversation(conversation)] == ["kept.pdf"]
    assert store.forget_unused() == 1  # the one no chat uses
    db.execute("DELETE FROM conversations WHERE id = ?", (conversation,))
    assert store.of_conversation(conversation) == []
    assert store.forget_unused() == 1
    assert db.execute("SELECT count(*) FROM passages").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM passages_fts").fetchone()[0] == 0


def test_the_query_is_the_questions_own_words():
    question = "What did the report say about Q3 revenue?"
    assert match_query(question) == '"report" OR "q3" OR "revenue"'
    assert match_query('He said "NEAR" AND (x*) 7') == '"he" OR "near" OR "7"'
    assert match_query("?") == ""


def test_a_purged_conversation_takes_its_documents_and_leaves_the_others(tmp_path):
    """Deleted with the conversation (issue 22): its documents' text is gone from the file,
    a document another chat uses stays, and so does one read for the command line."""
    from desktop_assistant.storage.history import History

    path = tmp_path / "history.sqlite3"
    history = History(path)
    store = DocumentStore(history.db)
    secret = history.create_conversation("secret")
    other = history.create_conversation("other")
    private = store.add(document("diary.pdf", ["Quetzalcoatlus plans for Tuesday " * 40]))
    shared = store.add(document("shared.pdf", ["shared words " * 40]))
    cli = store.add(document("cli.pdf", ["asked from the terminal " * 40]))
    store.attach(secret, private.id)
    store.attach(secret, shared.id)
    store.attach(other, shared.id)
    history.delete_conversation(secret)
    history.purge_deleted(secret)
    names = {r[0] for r in history.db.execute("SELECT name FROM documents")}
    assert names == {"shared.pdf", "cli.pdf"} and cli.id and shared.id
    assert store.search("Quetzalcoatlus", [private.id]) == []
    history.close()
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"Quetzalcoatlus" not in data


def test_documents_and_sources_go_with_an_exported_conversation(tmp_path):
    import json

    from desktop_assistant.core.grounding import cited_sources
    from desktop_assistant.storage import transfer
    from desktop_assistant.storage.attachments import AttachmentStore
    from desktop_assistant.storage.history import History

    pages = [FILLER * 30 for _ in range(4)]
    pages[2] = "The lighthouse keeper was paid forty shillings a month. " + FILLER
    source = History(tmp_path / "a.sqlite3")
    store = DocumentStore(source.db)
    report = store.add(document("report.pdf", pages, sha="ab" * 32))
    cid = source.create_conversation()
    store.attach(cid, report.id)
    source.add_message(cid, "user", "What was the keeper paid?")
    [hit] = store.search("keeper paid", [report.id], limit=1)
    sources = [
        {"number": s.number, "document": s.document, "place": s.place, "passage_id": s.passage_id}
        for s in cited_sources("Forty shillings [1].", [hit])
    ]
    answer_id = source.add_message(cid, "assistant", "")
    source.update_message(answer_id, "Forty shillings [1].", "complete", {"sources": sources})
    files = AttachmentStore(tmp_path / "files")
    data = json.loads(json.dumps(transfer.export_json(source, cid, files)))
    markdown = transfer.export_markdown(source, cid)
    assert "*Documents:* report.pdf (4 pages)" in markdown
    assert "*Sources:* [1] report.pdf, page 3" in markdown

    other = History(tmp_path / "b.sqlite3")
    for _ in range(3):  # row ids here differ from the exporting database's
        other.db.execute(
            "INSERT INTO documents (sha256, name, kind, pages, created_at) "
            "VALUES (?, 'x', 'text', 1, 0)",
            (f"{_:064x}",),
        )
    copy = transfer.import_json(other, data, files)
    imported = DocumentStore(other.db)
    [restored] = imported.of_conversation(copy)
    assert (restored.name, restored.pages, restored.sha256) == ("report.pdf", 4, report.sha256)
    assert imported.search("keeper paid", [restored.id])[0].page == 3
    answer = other.messages(copy)[-1]
    [saved] = answer.stats["sources"]
    passage = imported.passage(saved["passage_id"])
    assert passage is not None and "forty shillings" in passage.text
    assert transfer.import_json(other, data, files) != copy  # again: the document is shared
    assert (
        other.db.execute("SELECT count(*) FROM documents WHERE name = 'report.pdf'").fetchone()[0]
        == 1
    )
    source.close()
    other.close()


def test_a_collection_is_read_once_used_by_chats_and_deleted_with_its_documents(store, tmp_path):
    from desktop_assistant.storage.history import History  # noqa: F401  (schema as the app's)

    a = store.add(document("a.md", ["Alpha notes about tides."], sha="a"))
    b = store.add(document("b.md", ["Beta notes about lamps."], sha="b"))
    notes, other_notes = str(tmp_path / "notes"), str(tmp_path / "work" / "notes")
    first = store.collection("notes", notes)
    assert store.collection("notes", notes) == first  # the same folder again
    other = store.collection("notes", other_notes)
    assert other != first
    assert [c.name for c in store.collections()] == ["notes", "notes (2)"]
    store.set_collection_documents(first, {a.id: "a.md", b.id: "b.md"})
    db = store.db
    now = time.time()
    cid = db.execute(
        "INSERT INTO conversations (title, created_at, updated_at) VALUES ('t', ?, ?)", (now, now)
    ).lastrowid
    store.use_collection(cid, first)
    [used] = store.collections_of(cid)
    assert used.name == "notes" and set(used.document_ids) == {a.id, b.id}
    store.set_collection_documents(first, {a.id: "a.md"})  # b.md left the folder
    assert store.find("b") is None and store.find("a") is not None
    store.attach(cid, a.id)  # the chat holds a.md itself too
    store.delete_collection(first)
    assert store.collections_of(cid) == [] and store.find("a") is not None
    store.detach(cid, a.id)
    assert store.forget_unused() == 1 and store.find("a") is None


def test_documents_nothing_uses_are_kept_a_day_then_removed(store):
    from desktop_assistant.storage.documents import UNUSED_KEPT_S

    old = store.add(document("asked-last-week.md", ["Old notes."], sha="old"))
    new = store.add(document("asked-now.md", ["New notes."], sha="new"))
    store.db.execute(
        "UPDATE documents SET created_at = ? WHERE id = ?", (time.time() - 2 * 86400, old.id)
    )
    assert store.forget_unused(older_than_s=UNUSED_KEPT_S) == 1
    assert store.find("old") is None and store.find("new") == new
    assert store.search("notes", [old.id, new.id])[0].document == "asked-now.md"


def test_a_source_the_model_no_longer_reads_is_given_again_under_its_number(store):
    """A follow-up names sources given before by number (the model read them); one whose
    question was left out of a prompt too long for the context is given again, numbered
    as before, so that no answer cites a passage the model cannot see."""
    from desktop_assistant.core.grounding import numbers_given
    from desktop_assistant.storage.documents import grounded

    pages = [FILLER * 30 for _ in range(12)]
    pages[7] = FILLER * 5 + "The lighthouse keeper was paid forty shillings a month. " + FILLER * 5
    report = store.add(document("report.pdf", pages))
    engine = object()  # no tokenizer: words are counted
    text, hits, numbers = grounded(store, "What was the lighthouse keeper paid?", [report],
                                   engine, 100)  # fmt: skip
    assert numbers[0] == 1 and hits[0].page == 8 and 1 in numbers_given(text)
    given = tuple(h.passage_id for h in hits)
    follow_up = "Was the lighthouse keeper paid monthly?"

    read, _, kept = grounded(store, follow_up, [report], engine, 100, given)
    assert "forty shillings" not in read and "[1]" in read and kept[0] == 1
    assert numbers_given(read) == set()

    again, hits_again, numbers_again = grounded(store, follow_up, [report], engine, 100,
                                                given, lost={1})  # fmt: skip
    assert "[1] report.pdf, page 8:" in again and "forty shillings" in again
    assert numbers_again[0] == 1 and hits_again[0].page == 8 and 1 in numbers_given(again)
    assert set(numbers_again) <= set(range(1, len(given) + len(numbers_again) + 1))
