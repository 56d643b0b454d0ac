"""Edit and resend, regenerate with versions, continue, delete; long chats drawn lazily."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_assistant.storage.history import History
from tests.fakes import FakeChatEngine
from tests.ui.helpers import send, wait_ready


def _shown(window):
    return [(w.role, w.text) for w in window.view.messages()]


def _visible_actions(widget):
    return {name for name, button in widget.buttons.items() if not button.isHidden()}


def _click(qtbot, widget, action):
    assert action in _visible_actions(widget), _visible_actions(widget)
    qtbot.mouseClick(widget.buttons[action], Qt.MouseButton.LeftButton)


class ScriptedEngine(FakeChatEngine):
    """Answers each call with the next script entry."""

    def __init__(self, answers, **kwargs):
        super().__init__(**kwargs)
        self.answers = list(answers)

    def generate(self, messages, options, on_text):
        self.tokens = self.answers.pop(0) if self.answers else ["again"]
        return super().generate(messages, options, on_text)


def test_edit_a_question_and_ask_again_from_there(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = ScriptedEngine([["Paris."], ["Berlin."], ["Madrid."]])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    for question in ("Capital of France?", "Capital of Germany?"):
        with qtbot.waitSignal(window.reply_finished, timeout=10_000):
            send(qtbot, window, question)
    qtbot.keyClicks(window.composer.edit, "a draft")
    first_question = window.view.messages()[0]
    qtbot.waitUntil(lambda: {"edit", "delete"} <= _visible_actions(first_question))
    _click(qtbot, first_question, "edit")
    assert window.composer.text() == "Capital of France?" and window.composer.editing
    window.composer.edit.selectAll()
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Capital of Spain?")
    assert _shown(window) == [("user", "Capital of Spain?"), ("assistant", "Madrid.")]
    assert engine.calls[-1][-1].content == "Capital of Spain?" and len(engine.calls[-1]) == 1
    assert window.composer.text() == "a draft"  # the draft typed before the edit is back
    window.close()
    stored = History(db)
    [conversation] = stored.list_conversations()
    assert [(m.role, m.content) for m in stored.messages(conversation.id)] == [
        ("user", "Capital of Spain?"),
        ("assistant", "Madrid."),
    ]
    stored.close()


def test_escape_cancels_an_edit(qtbot, make_window):
    window, engine = make_window(FakeChatEngine(tokens=["ok"]))
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "first")
    _click(qtbot, window.view.messages()[0], "edit")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    assert not window.composer.editing and window.composer.text() == ""
    assert _shown(window) == [("user", "first"), ("assistant", "ok")]


def test_regenerate_keeps_earlier_answers_browsable(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = ScriptedEngine([["Red."], ["Blue."]])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Name a colour")
    answer = window.view.messages()[1]
    qtbot.waitUntil(lambda: "regenerate" in _visible_actions(answer))  # once saved
    assert "regenerate" not in _visible_actions(window.view.messages()[0])
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _click(qtbot, answer, "regenerate")
    assert engine.calls[-1][-1].role == "user"  # the old answer is not part of the prompt
    assert _shown(window) == [("user", "Name a colour"), ("assistant", "Blue.")]
    assert answer.version_label.text() == "2/2"
    _click(qtbot, answer, "older")
    qtbot.waitUntil(lambda: answer.text == "Red.")
    assert answer.version_label.text() == "1/2"
    assert not answer.buttons["older"].isEnabled() and answer.buttons["newer"].isEnabled()
    assert window.messages[-1].content == "Red."  # the shown version is the context
    window.close()
    stored = History(db)
    [conversation] = stored.list_conversations()
    [_, kept] = stored.messages(conversation.id)
    assert (kept.content, kept.version, kept.versions) == ("Red.", 0, 2)
    stored.close()


def test_continue_a_stopped_answer(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = FakeChatEngine(tokens=[f"w{i} " for i in range(300)], delay_s=0.01)
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    send(qtbot, window, "count")
    qtbot.waitUntil(lambda: len(window.view.messages()[-1].text) > 10, timeout=10_000)
    window.stop()
    answer = window.view.messages()[-1]
    before = answer.text
    qtbot.waitUntil(lambda: {"continue", "regenerate"} <= _visible_actions(answer))
    engine.tokens, engine.delay_s = ["and ", "more."], 0.0
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _click(qtbot, answer, "continue")
    prompt = engine.calls[-1]
    assert (prompt[-1].role, prompt[-1].content) == ("assistant", before)
    assert answer.text == before + "and more."
    assert "continue" not in _visible_actions(answer)
    window.close()
    stored = History(db)
    [conversation] = stored.list_conversations()
    kept = stored.messages(conversation.id)[1]
    assert (kept.content, kept.state, kept.versions) == (before + "and more.", "complete", 1)
    stored.close()


def test_an_interrupted_answer_offers_continue_and_regenerate(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    crashed = History(db)
    cid = crashed.create_conversation()
    crashed.add_message(cid, "user", "Tell me a story")
    crashed.add_message(cid, "assistant", "Once upon a ti", state="streaming")
    crashed.close()
    window, _ = make_window(FakeChatEngine(tokens=["me..."]), history=db)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.conversations.sidebar.model.rowCount() > 0)
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: len(window.view.messages()) == 2)
    answer = window.view.messages()[1]
    assert {"continue", "regenerate"} <= _visible_actions(answer)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _click(qtbot, answer, "continue")
    assert answer.text == "Once upon a time..."


def test_delete_a_message_after_confirming(qtbot, make_window, tmp_path, monkeypatch):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeChatEngine(tokens=["ok"]), history=db)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "hello")
    qtbot.waitUntil(lambda: "delete" in _visible_actions(window.view.messages()[1]))
    answers = iter([False, True])
    monkeypatch.setattr(window.tools, "confirm_delete", lambda: next(answers))
    _click(qtbot, window.view.messages()[1], "delete")
    assert len(window.view.messages()) == 2  # said no
    _click(qtbot, window.view.messages()[1], "delete")
    assert _shown(window) == [("user", "hello")]
    window.close()
    stored = History(db)
    [conversation] = stored.list_conversations()
    assert [m.content for m in stored.messages(conversation.id)] == ["hello"]
    stored.close()


def test_a_long_conversation_is_drawn_newest_first_and_older_on_scroll(
    qtbot, make_window, tmp_path
):
    db = tmp_path / "history.sqlite3"
    h = History(db)
    cid = h.create_conversation()
    ids = [
        h.add_message(cid, "user" if i % 2 == 0 else "assistant", f"message {i}")
        for i in range(200)
    ]
    h.close()
    window, _ = make_window(history=db)
    qtbot.waitUntil(lambda: window.conversations.sidebar.model.rowCount() > 0)
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: len(window.view.messages()) > 0)
    drawn = len(window.view.messages())
    assert drawn < 30 and window.view.messages()[-1].text == "message 199"
    assert len(window.messages) == 200  # the model still reads the whole conversation
    bar = window.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)  # laid out
    top = window.view.messages()[0]
    bar.setValue(0)  # the user scrolls to the top: older messages appear above
    qtbot.waitUntil(lambda: len(window.view.messages()) > drawn)
    qtbot.waitUntil(lambda: bar.value() > 0)
    assert window.view.y_of(top) - bar.value() < window.view.viewport().height()  # still in view
    # a search hit far up draws what is needed to show it
    window.conversations._open_hit(cid, ids[3])
    qtbot.waitUntil(lambda: window.view.messages()[0].text == "message 0", timeout=5_000)
    texts = [w.text for w in window.view.messages()]
    assert texts == [f"message {i}" for i in range(200)]


def test_system_prompt_per_conversation_from_presets(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, engine = make_window(FakeChatEngine(tokens=["ok"]), history=db)
    wait_ready(qtbot, window)
    presets = window.settings.get("system_prompts")
    window.system_picker.choose(presets["Teacher"])
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "why is the sky blue")
    assert engine.calls[-1][0].role == "system"
    assert engine.calls[-1][0].content == presets["Teacher"]
    assert window.system_picker.box.currentText() == "Teacher"
    cid = window.conversation_id
    window.system_picker.choose("Only answer in French.")
    assert window.system_picker.box.currentText().startswith("Custom")
    window.conversations.new_chat()
    assert window.system_prompt == "" and window.system_picker.box.currentText() == "None"
    window.conversations.open(cid)
    qtbot.waitUntil(lambda: window.system_prompt == "Only answer in French.")
    window.close()
    stored = History(db)
    assert stored.conversation(cid).system_prompt == "Only answer in French."
    stored.close()


def test_theme_setting_switches_colours_and_code_blocks(qtbot, make_window):
    from PySide6.QtGui import QGuiApplication

    window, _ = make_window(FakeChatEngine(tokens=["```python\nprint(1)\n```"]))
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "code please")
    try:
        window.settings.set("theme", "dark")
        palette = QGuiApplication.palette()
        assert palette.window().color().lightness() < 128
        assert "#161b22" in window.view.messages()[-1].body.toHtml().lower()
        window.settings.set("theme", "light")
        assert QGuiApplication.palette().window().color().lightness() > 128
        assert "#f6f8fa" in window.view.messages()[-1].body.toHtml().lower()
    finally:
        window.settings.set("theme", "system")
