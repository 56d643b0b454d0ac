from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from desktop_assistant.storage import database
from desktop_assistant.storage.database import SCHEMA_VERSION, DatabaseTooNew, connect, migrate
from desktop_assistant.storage.history import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    History,
    fts_query,
    title_from,
)


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "history.sqlite3")
    yield h
    h.close()


def _old_database(path, version):
    """A database left by an older app: the schema up to `version`, with some data in it."""
    db = connect(path)
    migrate(db, upto=version)
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES (1, 'Old chat', 1.0, 2.0)"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, state, created_at, "
        "updated_at) VALUES (1, 'user', 'how do penguins sleep', 'complete', 1.0, 1.0)"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, state, created_at, "
        "updated_at) VALUES (1, 'assistant', 'standing up, briefly', 'complete', 2.0, 2.0)"
    )
    db.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migrations_from_every_older_version_keep_the_data(tmp_path, version):
    path = tmp_path / "old.sqlite3"
    _old_database(path, version)
    history = History(path)
    assert history.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [conversation] = history.list_conversations()
    assert conversation.title == "Old chat"
    assert [m.content for m in history.messages(1)] == [
        "how do penguins sleep",
        "standing up, briefly",
    ]
    assert [hit.message_id for hit in history.search("penguins")] == [1]
    assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert history.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_database_from_a_newer_app_is_refused_and_untouched(tmp_path):
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNew, match="newer version"):
        History(path)
    assert path.read_bytes() == before


def test_a_corrupt_file_is_moved_aside_and_a_new_one_used(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    history = History(path)
    assert history.moved_aside is not None and history.moved_aside.exists()
    assert history.moved_aside.read_bytes().startswith(b"this is not a database")
    assert history.list_conversations() == []
    history.add_message(history.create_conversation(), "user", "still works")


def test_messages_are_committed_and_titled(history, tmp_path):
    cid = history.create_conversation()
    history.add_message(cid, "user", "What is the tallest mountain on Earth?\nAnd why?")
    mid = history.add_message(cid, "assistant", "", state="streaming", model="qwen")
    history.update_message(mid, "Mount Everest")
    other = History(tmp_path / "history.sqlite3")  # a second connection sees the commits
    messages = other.messages(cid)
    assert [(m.role, m.content, m.state) for m in messages] == [
        ("user", "What is the tallest mountain on Earth?\nAnd why?", "complete"),
        ("assistant", "Mount Everest", "streaming"),
    ]
    assert other.list_conversations()[0].title == "What is the tallest mountain on Earth?"
    history.update_message(mid, "Mount Everest.", state="complete", stats={"new_tokens": 3})
    assert other.messages(cid)[1].stats == {"new_tokens": 3}
    assert other.mark_interrupted() == 0
    other.close()


def test_streaming_answers_are_marked_interrupted_on_start(tmp_path):
    path = tmp_path / "h.sqlite3"
    history = History(path)
    cid = history.create_conversation()
    mid = history.add_message(cid, "assistant", "half an ans", state="streaming")
    history.close()
    again = History(path)
    assert again.mark_interrupted() == 1
    assert again.messages(cid)[0].state == "interrupted" and again.messages(cid)[0].id == mid


def test_list_is_newest_first_and_delete_can_be_undone(history):
    first = history.create_conversation("first")
    second = history.create_conversation("second")
    history.add_message(first, "user", "bump")  # now the newest
    assert [c.id for c in history.list_conversations()] == [first, second]
    history.delete_conversation(first)
    assert [c.id for c in history.list_conversations()] == [second]
    history.undo_delete(first)
    assert {c.id for c in history.list_conversations()} == {first, second}
    history.delete_conversation(second)
    assert history.purge_deleted() == set()
    assert history.conversation(second) is None


def _file_bytes(path):
    """The database file and its write-ahead log, as the disk holds them."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_a_purged_conversation_leaves_no_trace_in_the_file(tmp_path):
    """Deleted means deleted (issue 18, 9): the words are not in the search index's segments,
    the free pages or the write-ahead log afterwards, only in a conversation not purged."""
    path = tmp_path / "history.sqlite3"
    history = History(path)
    assert history.db.execute("PRAGMA secure_delete").fetchone()[0] == 1  # whatever the build
    kept = history.create_conversation("kept")
    history.add_message(kept, "user", "Quokkas stay")
    secret = history.create_conversation("Zanzibarquest planning")
    for n in range(300):  # pages of their own (more than later writes reuse), many segments
        history.add_message(secret, "user", f"Zanzibarquest number {n} xylophonic " * 20)
    history.delete_conversation(secret)
    assert b"Zanzibarquest" in _file_bytes(path)  # a soft delete keeps it for Undo
    history.purge_deleted(secret)
    assert history.search("Zanzibarquest") == [] and history.search("xylophonic") == []
    history.close()
    data = _file_bytes(path)
    assert b"Zanzibarquest" not in data and b"xylophonic" not in data
    assert b"Quokkas" in data


def test_purging_one_or_all_and_which_files_are_no_longer_used(history):
    from desktop_assistant.storage.history import StoredAttachment

    shared, own = "a" * 64, "b" * 64
    one, two, three = (history.create_conversation(t) for t in ("one", "two", "three"))
    history.add_message(
        one,
        "user",
        "pictures",
        attachments=(
            StoredAttachment("image", shared, "cat.png", ".png"),
            StoredAttachment("image", own, "dog.png", ".png"),
        ),
    )
    history.add_message(
        two, "user", "same cat", attachments=(StoredAttachment("image", shared, "c.png", ".png"),)
    )
    assert history.purge_deleted(one) == set()  # not deleted: nothing happens
    history.delete_conversation(one)
    history.delete_conversation(three)
    assert history.purge_deleted(one) == {own}  # the shared picture is still used by two
    assert history.conversation(three) is not None  # still deleted, still restorable
    history.undo_delete(three)
    assert {c.id for c in history.list_conversations()} == {two, three}
    history.delete_conversation(two)
    assert history.purge_deleted() == {shared}


def test_search_highlights_and_tolerates_syntax(history):
    cid = history.create_conversation("Cooking")
    history.add_message(cid, "user", "How long should I boil an egg?")
    history.add_message(cid, "assistant", "Boil the egg for about seven minutes.")
    hits = history.search("egg boil")
    assert len(hits) == 2 and all(hit.title == "Cooking" for hit in hits)
    assert f"{HIGHLIGHT_START}egg{HIGHLIGHT_END}" in hits[0].snippet
    assert history.search("sev")[0].message_id  # the last word matches as a prefix
    for odd in ('"', "AND OR", "egg*)(", "NEAR(", "-"):
        history.search(odd)  # never an FTS syntax error
    assert history.search("   ") == []
    assert fts_query('say "hi"') == '"say" """hi"""*'


def test_export_and_import_round_trip(history, tmp_path):
    from desktop_assistant.storage import transfer
    from desktop_assistant.storage.attachments import AttachmentStore
    from desktop_assistant.storage.history import StoredAttachment

    store = AttachmentStore(tmp_path / "files")
    picture = store.put(b"\x89PNG pretend picture", ".png")
    cid = history.create_conversation("Trip", system_prompt="Be brief.")
    files = (StoredAttachment("image", picture.sha256, "rome.png", ".png"),)
    history.add_message(cid, "user", "Plan a day in Rome", attachments=files)
    mid = history.add_message(cid, "assistant", "Colosseum, then pasta.", model="qwen")
    history.update_message(mid, "Colosseum, then pasta.", state="stopped", stats={"new_tokens": 5})
    history.new_version(mid)
    history.update_message(mid, "Vatican.", state="complete")
    data = json.loads(json.dumps(transfer.export_json(history, cid, store)))  # via a file
    markdown = transfer.export_markdown(history, cid)
    assert markdown.startswith("# Trip") and "## Assistant" in markdown
    assert "*Attached image: rome.png*" in markdown

    other = AttachmentStore(tmp_path / "elsewhere")  # another machine
    copy = transfer.import_json(history, data, other)
    assert copy != cid
    assert other.find(picture.sha256).path.read_bytes() == b"\x89PNG pretend picture"
    [question, answer] = history.messages(copy)
    assert question.attachments == files
    assert (answer.content, answer.versions, answer.version) == ("Vatican.", 2, 1)
    assert history.select_version(answer.id, 0).content == "Colosseum, then pasta."
    again = transfer.export_json(history, cid, store)
    assert {k: v for k, v in again.items() if k != "created_at"} == {
        k: v for k, v in data.items() if k != "created_at"
    }
    with pytest.raises(ValueError):
        transfer.import_json(history, {"format": "something else"}, other)
    data["messages"][0]["attachments"][0]["data"] = base64.b64encode(b"tampered").decode()
    with pytest.raises(ValueError, match="damaged"):
        transfer.import_json(history, data, other)
    assert len(history.list_conversations()) == 2  # the damaged import added nothing


def test_titles():
    assert title_from("  \n  Hello there \nsecond") == "Hello there"
    long = "word " * 30
    assert len(title_from(long)) <= 61 and title_from(long).endswith("…")


def test_migrations_are_each_a_transaction(tmp_path, monkeypatch):
    def broken():
        return "CREATE TABLE half_done (x); SELECT no_such_function();"

    monkeypatch.setattr(database, "MIGRATIONS", (*database.MIGRATIONS[:1], broken))
    db = connect(tmp_path / "m.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, upto=2)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchall()


def test_regenerated_answers_keep_their_earlier_versions(history):
    cid = history.create_conversation()
    history.add_message(cid, "user", "name a colour")
    mid = history.add_message(cid, "assistant", "red", model="m1")
    assert history.new_version(mid) == 1
    streaming = history.message(mid)
    assert (streaming.content, streaming.state, streaming.versions) == ("", "streaming", 2)
    history.update_message(mid, "blue", state="complete")
    assert history.new_version(mid) == 2
    history.update_message(mid, "green", state="stopped")
    [_, answer] = history.messages(cid)
    assert (answer.content, answer.version, answer.versions) == ("green", 2, 3)

    first = history.select_version(mid, 0)
    assert (first.content, first.state, first.model, first.version) == ("red", "complete", "m1", 0)
    assert history.select_version(mid, 2).content == "green"
    assert history.select_version(mid, 1).content == "blue"
    assert history.message(mid).versions == 3
    assert history.select_version(mid, 7).content == "blue"  # no such version: unchanged
    # Search finds the shown version only; deleting the message drops its versions too.
    assert [h.message_id for h in history.search("blue")] == [mid]
    assert history.search("green") == []
    history.delete_message(mid)
    assert history.db.execute("SELECT COUNT(*) FROM message_versions").fetchone()[0] == 0


def test_editing_a_question_deletes_what_followed_it(history):
    cid = history.create_conversation()
    other = history.create_conversation()
    ids = [
        history.add_message(cid, role, text)
        for role, text in (("user", "one"), ("assistant", "1"), ("user", "two"), ("assistant", "2"))
    ]
    history.add_message(other, "user", "elsewhere")
    assert history.delete_after(ids[0]) == 3
    assert [m.content for m in history.messages(cid)] == ["one"]
    assert [m.content for m in history.messages(other)] == ["elsewhere"]


def test_attachments_are_kept_in_order_with_their_message(history):
    from desktop_assistant.storage.history import StoredAttachment

    cid = history.create_conversation()
    files = (
        StoredAttachment("image", "a" * 64, "cat.png", ".png"),
        StoredAttachment("image", "b" * 64, "dog.jpg", ".jpg"),
    )
    mid = history.add_message(cid, "user", "which is cuter?", attachments=files)
    history.add_message(cid, "assistant", "both")
    stored = history.messages(cid)
    assert stored[0].attachments == files and stored[1].attachments == ()
    assert history.message(mid).attachments == files
    assert history.attachment_hashes() == {"a" * 64, "b" * 64}
    history.delete_message(mid)
    assert history.attachment_hashes() == set()


@pytest.mark.parametrize(
    ("question", "answer", "title"),
    [
        (
            "Can you please explain how rainbows form?",
            "Light refracts...",
            "Explain how rainbows form?",
        ),
        ("hi", "Hello! How can I help you today?", "Hello! How can I help you today?"),
        ("hi", "Hello!", "Hi"),
        ("# not a heading\nsecond line", "x", "# not a heading"),
    ],
)
def test_titles_from_the_first_exchange(question, answer, title):
    from desktop_assistant.storage.history import title_from_exchange

    assert title_from_exchange(question, answer) == title


def test_the_first_answer_retitles_unless_the_user_named_the_chat(history):
    cid = history.create_conversation()
    history.add_message(cid, "user", "could you list three fruits")
    assert history.title_after_first_answer(cid) is None  # no answer yet
    history.add_message(cid, "assistant", "apple, pear, plum")
    assert history.title_after_first_answer(cid) == "List three fruits"
    assert history.conversation(cid).title == "List three fruits"
    history.rename(cid, "Fruit")
    assert history.title_after_first_answer(cid) is None
    assert history.conversation(cid).title == "Fruit"


def test_a_locked_database_is_not_taken_for_a_corrupt_one(tmp_path, monkeypatch):
    """Another process holding the file (a second app, a backup tool) used to get a healthy
    history renamed to .corrupt-… and an empty one started (issue 18)."""
    import sqlite3

    from desktop_assistant.storage import database

    path = tmp_path / "history.sqlite3"
    history = History(path)
    history.add_message(history.create_conversation(), "user", "keep me")
    history.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)
    try:
        with pytest.raises(database.HistoryUnavailable, match="in use|locked"):
            History(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert [c.title for c in History(path).list_conversations()] != []


@pytest.mark.parametrize(
    "message, code",
    [
        ("disk I/O error", 10),
        ("attempt to write a readonly database", 8),
        ("database or disk is full", 13),
    ],
)
def test_io_errors_at_start_leave_the_file_alone(tmp_path, monkeypatch, message, code):
    import sqlite3

    from desktop_assistant.storage import database

    path = tmp_path / "history.sqlite3"
    History(path).close()

    def failing(db, upto=database.SCHEMA_VERSION):
        err = sqlite3.OperationalError(message)
        err.sqlite_errorcode = code
        raise err

    monkeypatch.setattr(database, "migrate", failing)
    with pytest.raises(database.HistoryUnavailable, match=message):
        History(path)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))


def _export_with_one_attachment(history, store):
    from desktop_assistant.storage import transfer
    from desktop_assistant.storage.history import StoredAttachment

    picture = store.put(b"\x89PNG pretend picture", ".png")
    cid = history.create_conversation("Pictures")
    files = (StoredAttachment("image", picture.sha256, "cat.png", ".png"),)
    history.add_message(cid, "user", "What is this?", attachments=files)
    return json.loads(json.dumps(transfer.export_json(history, cid, store)))


def test_an_attachment_without_its_data_is_imported_only_if_the_file_is_here(history, tmp_path):
    """'"data": null' used to be stored unchecked: the chat then failed to open (issue 18)."""
    from desktop_assistant.storage import transfer
    from desktop_assistant.storage.attachments import AttachmentStore

    store = AttachmentStore(tmp_path / "files")
    data = _export_with_one_attachment(history, store)
    data["messages"][0]["attachments"][0]["data"] = None
    same_machine = transfer.import_json(history, data, store)  # the file is in the store
    assert len(history.messages(same_machine)[0].attachments) == 1
    elsewhere = transfer.import_json(history, data, AttachmentStore(tmp_path / "other"))
    [question] = history.messages(elsewhere)
    assert question.content == "What is this?" and question.attachments == ()


@pytest.mark.parametrize("suffix", ["../../etc", ".png/x", "." + "p" * 40])
def test_an_attachment_with_a_bad_suffix_is_refused(history, tmp_path, suffix):
    from desktop_assistant.storage import transfer
    from desktop_assistant.storage.attachments import AttachmentStore

    store = AttachmentStore(tmp_path / "files")
    data = _export_with_one_attachment(history, store)
    before = len(history.list_conversations())
    for with_data in (True, False):
        attachment = dict(data["messages"][0]["attachments"][0], suffix=suffix)
        if not with_data:
            attachment["data"] = None
        data["messages"][0]["attachments"] = [attachment]
        with pytest.raises(ValueError, match="bad attachment"):
            transfer.import_json(history, data, store)
    assert len(history.list_conversations()) == before
