from __future__ import annotations

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
    assert history.purge_deleted() == 1
    assert history.conversation(second) is None


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


def test_export_and_import_round_trip(history):
    cid = history.create_conversation("Trip", system_prompt="Be brief.")
    history.add_message(cid, "user", "Plan a day in Rome")
    mid = history.add_message(cid, "assistant", "Colosseum, then pasta.", model="qwen")
    history.update_message(mid, "Colosseum, then pasta.", state="stopped", stats={"new_tokens": 5})
    data = history.export_json(cid)
    markdown = history.export_markdown(cid)
    assert markdown.startswith("# Trip") and "## Assistant (stopped)" in markdown
    copy = history.import_json(data)
    assert copy != cid
    again = history.export_json(copy)
    assert {k: v for k, v in again.items() if k != "created_at"} == {
        k: v for k, v in data.items() if k != "created_at"
    }
    with pytest.raises(ValueError):
        history.import_json({"format": "something else"})


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
