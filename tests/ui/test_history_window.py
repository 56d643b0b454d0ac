"""The window with its history: nothing typed or streamed is lost across restarts."""

from __future__ import annotations

import sqlite3

import pytest

from desktop_assistant.storage.history import History
from tests.fakes import FakeChatEngine
from tests.ui.helpers import send, wait_ready


class CheckingEngine(FakeChatEngine):
    """Records whether the user's message was already committed when generation began."""

    def __init__(self, db_path, **kwargs):
        super().__init__(**kwargs)
        self.db_path = db_path
        self.committed_at_start: list[bool] = []

    def generate(self, messages, options, on_text):
        db = sqlite3.connect(self.db_path)
        rows = db.execute("SELECT content FROM messages WHERE role = 'user'").fetchall()
        db.close()
        self.committed_at_start.append((messages[-1].content,) in rows)
        return super().generate(messages, options, on_text)


def _sidebar_titles(window):
    model = window.conversations.sidebar.model
    return [model.index(i).data() for i in range(model.rowCount())]


def test_messages_are_committed_before_generation_and_survive_a_restart(
    qtbot, make_window, tmp_path
):
    db = tmp_path / "history.sqlite3"
    engine = CheckingEngine(db, tokens=["Blue ", "whales ", "sing."])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Which animal sings underwater?")
    assert engine.committed_at_start == [True]
    qtbot.waitUntil(lambda: "Which animal sings underwater?" in _sidebar_titles(window))
    assert _sidebar_titles(window)[0] == "Today"
    window.close()

    stored = History(db)
    [conversation] = stored.list_conversations()
    messages = stored.messages(conversation.id)
    assert [(m.role, m.content, m.state) for m in messages] == [
        ("user", "Which animal sings underwater?", "complete"),
        ("assistant", "Blue whales sing.", "complete"),
    ]
    assert messages[1].stats["new_tokens"] == 3
    stored.close()

    again, _ = make_window(FakeChatEngine(), history=db)
    qtbot.waitUntil(lambda: "Which animal sings underwater?" in _sidebar_titles(again))
    again.conversations.open(conversation.id)
    qtbot.waitUntil(lambda: len(again.view.messages()) == 2)
    assert [w.text for w in again.view.messages()] == [
        "Which animal sings underwater?",
        "Blue whales sing.",
    ]
    assert [m.role for m in again.messages] == ["user", "assistant"]


def test_a_cut_off_answer_is_shown_as_interrupted(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    crashed = History(db)
    cid = crashed.create_conversation()
    crashed.add_message(cid, "user", "Tell me a long story")
    crashed.add_message(cid, "assistant", "Once upon a ti", state="streaming")
    crashed.close()
    window, _ = make_window(history=db)
    qtbot.waitUntil(lambda: bool(_sidebar_titles(window)))
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: len(window.view.messages()) == 2)
    answer = window.view.messages()[1]
    assert answer.text == "Once upon a ti"
    assert "cut off" in answer.stats_label.text()
    check = History(db)
    assert check.messages(cid)[1].state == "interrupted"
    check.close()


def test_a_stopped_answer_is_saved_as_stopped(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = FakeChatEngine(tokens=[f"w{i} " for i in range(400)], delay_s=0.01)
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    send(qtbot, window, "go on and on")
    reply = lambda: window.view.messages()[-1]  # noqa: E731
    qtbot.waitUntil(lambda: len(reply().text) > 20, timeout=10_000)
    window.stop()
    shown = window.messages[-1].content
    window.close()  # waits for the storage thread to write everything
    stored = History(db)
    [conversation] = stored.list_conversations()
    answer = stored.messages(conversation.id)[1]
    assert (answer.state, answer.content) == ("stopped", shown)
    stored.close()


def test_new_chat_delete_with_undo_and_search(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeChatEngine(tokens=["fine"]), history=db)
    wait_ready(qtbot, window)
    for question in ("How do volcanoes erupt?", "Best pasta recipe"):
        with qtbot.waitSignal(window.reply_finished, timeout=10_000):
            send(qtbot, window, question)
        window.conversations.new_chat()
        assert window.view.messages() == [] and window.conversation_id == 0
    qtbot.waitUntil(lambda: len(window.conversations.sidebar.model.conversation_ids()) == 2)
    newest = window.conversations.sidebar.model.conversation_ids()[0]
    window.conversations.delete(newest)
    qtbot.waitUntil(lambda: len(window.conversations.sidebar.model.conversation_ids()) == 1)
    assert window.conversations.undo_button.isVisibleTo(window)
    window.conversations.undo_delete()
    qtbot.waitUntil(lambda: len(window.conversations.sidebar.model.conversation_ids()) == 2)

    sidebar = window.conversations.sidebar
    sidebar.search_box.setText("volcano")
    assert sidebar.stack.currentWidget() is sidebar.results
    # the results arrive from the storage thread, then are drawn on the UI thread
    qtbot.waitUntil(lambda: sidebar.results.count() == 1, timeout=5_000)
    label = sidebar.results.itemWidget(sidebar.results.item(0))
    assert "<b>volcanoes</b>" in label.text()
    sidebar.search_box.clear()
    assert sidebar.stack.currentWidget() is sidebar.list


def test_a_deletion_still_undoable_at_quit_is_purged(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeChatEngine(tokens=["fine"]), history=db)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Remember the ostrich")
    ids = window.conversations.sidebar.model.conversation_ids
    qtbot.waitUntil(lambda: len(ids()) == 1)
    window.conversations.delete(ids()[0])
    window.close()
    stored = History(db)
    assert stored.db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0
    stored.close()


def test_a_chat_with_an_unusable_attachment_opens_and_keeps_its_id(qtbot, make_window, tmp_path):
    """A row imported before attachments were checked (a suffix no file can have) made the
    chat fail to open after the window had switched to its id: the next message was saved
    in it while the last chat's messages were on screen (issue 18)."""
    from desktop_assistant.storage.history import StoredAttachment

    db = tmp_path / "history.sqlite3"
    stored = History(db)
    cid = stored.create_conversation("Old import")
    bad = (StoredAttachment("image", "ab" * 32, "x.png", "../../etc"),)
    stored.add_message(cid, "user", "What is in the picture?", attachments=bad)
    stored.add_message(cid, "assistant", "A cat.")
    stored.close()
    window, _ = make_window(FakeChatEngine(tokens=["Yes."]), history=db)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: bool(_sidebar_titles(window)))
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: len(window.view.messages()) == 2)
    assert window.conversation_id == cid
    assert [w.text for w in window.view.messages()] == ["What is in the picture?", "A cat."]
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Are you sure?")
    window.close()
    check = History(db)
    assert [m.content for m in check.messages(cid)][-2:] == ["Are you sure?", "Yes."]
    check.close()


@pytest.mark.parametrize(
    "content",
    [b'{"format": "something else"}', b"not json at all", b"\xff\xfe\x00binary", None],
)
def test_a_bad_import_is_reported_without_a_traceback_and_the_chat_goes_on(
    qtbot, make_window, tmp_path, caplog, content
):
    """Issue 18, 13: a file that is not an export printed a traceback (at quit), and the
    window stopped answering."""
    import logging

    path = tmp_path / "export.json"
    if content is not None:  # None: the file is gone by the time it is read
        path.write_bytes(content)
    window, _ = make_window(FakeChatEngine(tokens=["Four."]), history=tmp_path / "h.db")
    wait_ready(qtbot, window)
    with caplog.at_level(logging.INFO):
        window.history.import_requested.emit(str(path))
        qtbot.waitUntil(
            lambda: "Could not import the conversation" in window.state_label.text(),
            timeout=5_000,
        )
        with qtbot.waitSignal(window.reply_finished, timeout=10_000):
            send(qtbot, window, "What is 2+2?")
        window.close()
    assert window.view.messages()[-1].text == "Four."
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_question_left_unanswered_offers_to_answer_it(qtbot, make_window, tmp_path):
    """Issue 18, 13: a question stopped while it waited for the model stayed in the history
    with no sign that it was never answered."""
    db = tmp_path / "h.db"
    stored = History(db)
    cid = stored.create_conversation("Maths")
    stored.add_message(cid, "user", "What is 2+2?")
    stored.close()
    engine = FakeChatEngine(tokens=["Four."])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: len(window.view.messages()) == 1, timeout=5_000)
    question = window.view.messages()[0]
    answer = question.buttons["answer"]
    qtbot.waitUntil(answer.isVisible, timeout=5_000)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        answer.click()
    assert [m.text for m in window.view.messages()] == ["What is 2+2?", "Four."]
    assert not question.buttons["answer"].isVisible()


def test_stop_before_the_first_message_is_saved_keeps_one_chat(qtbot, make_window, tmp_path):
    """Issue 18, 16: Esc while a new chat's first message was still being written forgot the
    chat's id when it came back, so the next message started a second chat."""
    db = tmp_path / "h.db"
    window, engine = make_window(FakeChatEngine(tokens=["Answer."]), history=db)
    wait_ready(qtbot, window)
    window.send("First, stopped at once")
    window.stop()  # before the storage thread said the message is saved
    qtbot.waitUntil(lambda: window.conversation_id != 0, timeout=5_000)
    assert not window.composer.busy and "kept, unanswered" in window.state_label.text()
    assert engine.calls == []  # not answered
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Second")
    window.close()
    stored = History(db)
    [conversation] = stored.list_conversations()
    texts = [m.content for m in stored.messages(conversation.id)]
    assert texts == ["First, stopped at once", "Second", "Answer."]
    stored.close()
