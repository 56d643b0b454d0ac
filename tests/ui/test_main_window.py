from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from desktop_assistant.core.errors import ModelError
from desktop_assistant.ui.model_setup import NO_MODEL_TEXT
from tests.fakes import FakeChatEngine


def _type_and_send(qtbot, window, text):
    qtbot.keyClicks(window.composer.edit, text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)


def _wait_ready(qtbot, window):
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)


def test_type_send_and_the_reply_streams_in(qtbot, make_window):
    window, engine = make_window()
    _wait_ready(qtbot, window)
    assert window.composer.edit.hasFocus() or window.focusWidget() is window.composer.edit
    with qtbot.waitSignal(window.reply_finished, timeout=10_000) as finished:
        _type_and_send(qtbot, window, "Hello model")
        assert window.composer.button.text() == "Stop"
        assert window.state == "generating"
    roles = [m.role for m in window.view.messages()]
    assert roles == ["user", "assistant"]
    user, assistant = window.view.messages()
    assert user.text == "Hello model"
    assert assistant.text == "".join(engine.tokens)
    assert "tok/s" in window.stats_label.text() and "first token" in window.stats_label.text()
    assert finished.args[0].stats.new_tokens == len(engine.tokens)
    assert window.composer.button.text() == "Send" and window.composer.text() == ""
    assert [m.role for m in window.messages] == ["user", "assistant"]
    assert engine.calls[0][-1].content == "Hello model"


def test_streaming_updates_are_coalesced(qtbot, make_window):
    engine = FakeChatEngine(tokens=[f"t{i} " for i in range(400)])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    renders = []
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "go")
        widget = window.view.messages()[-1]
        original = widget.set_text
        widget.set_text = lambda text, **kw: (renders.append(text), original(text, **kw))
    assert widget.text == "".join(engine.tokens)
    assert 1 <= len(renders) < 400 / 4


def test_shift_enter_adds_a_line_and_empty_prompts_are_not_sent(qtbot, make_window):
    window, engine = make_window()
    _wait_ready(qtbot, window)
    edit = window.composer.edit
    qtbot.keyClicks(edit, "first")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "second")
    assert edit.toPlainText() == "first\nsecond"
    edit.clear()
    qtbot.keyClicks(edit, "   ")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.mouseClick(window.composer.button, Qt.MouseButton.LeftButton)
    assert window.view.messages() == [] and engine.calls == []


def test_stop_cancels_mid_stream_and_nothing_arrives_after(qtbot, make_window):
    engine = FakeChatEngine(tokens=[f"w{i} " for i in range(500)], delay_s=0.01)
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    _type_and_send(qtbot, window, "long answer please")
    reply = window.view.messages()[-1]
    qtbot.waitUntil(lambda: len(reply.text) > 10, timeout=10_000)
    with qtbot.waitSignal(window.chat.worker.finished, timeout=10_000):
        qtbot.mouseClick(window.composer.button, Qt.MouseButton.LeftButton)  # Stop
        shown_at_stop = reply.text
        assert window.composer.button.text() == "Send"
    qtbot.wait(100)  # give any stray queued chunk the chance to (wrongly) show
    assert reply.text == shown_at_stop
    assert engine.cancelled.is_set() and len(engine.emitted) < 500
    assert "stopped" in reply.stats_label.text()
    assert window.messages[-1].content == shown_at_stop  # what was streamed is kept


def test_escape_stops(qtbot, make_window):
    engine = FakeChatEngine(tokens=["x "] * 500, delay_s=0.01)
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    _type_and_send(qtbot, window, "go")
    qtbot.waitUntil(lambda: bool(engine.emitted), timeout=10_000)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(engine.cancelled.is_set, timeout=5_000)
    assert window.state == "ready" and window.composer.button.text() == "Send"


def test_a_message_sent_while_loading_is_answered_when_ready(qtbot, make_window):
    gate = threading.Event()
    engine = FakeChatEngine(load_gate=gate)
    window, _ = make_window(engine)
    qtbot.waitUntil(lambda: window.state == "loading")
    assert "Loading model" in window.state_label.text()
    _type_and_send(qtbot, window, "early question")
    assert [m.role for m in window.view.messages()] == ["user"]
    assert window.composer.button.text() == "Stop"
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        gate.set()
    assert engine.calls[0][-1].content == "early question"
    assert [m.role for m in window.view.messages()] == ["user", "assistant"]


def test_load_errors_show_in_the_window_and_keep_the_message(qtbot, make_window):
    engine = FakeChatEngine(load_error=ModelError("model folder not found: /nope; check the path"))
    window, _ = make_window(engine, model_path="/nope")
    qtbot.waitUntil(lambda: bool(window.view.messages()), timeout=10_000)
    assert window.state == "no-model"
    errors = [m for m in window.view.messages() if m.role == "error"]
    assert errors and "model folder not found" in errors[0].text
    assert "model folder not found" in window.state_label.text()
    _type_and_send(qtbot, window, "still here")
    assert window.view.messages()[-2].text == "still here"
    assert window.view.messages()[-1].role == "notice"  # answered once a model is loaded
    assert window.composer.button.text() == "Send"


def test_generation_errors_show_in_the_window(qtbot, make_window):
    engine = FakeChatEngine(generate_error=RuntimeError("out of memory"))
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    _type_and_send(qtbot, window, "hi")
    qtbot.waitUntil(lambda: window.view.messages()[-1].role == "error", timeout=10_000)
    assert "out of memory" in window.view.messages()[-1].text
    assert [m.role for m in window.view.messages()] == ["user", "error"]
    assert window.composer.button.text() == "Send"
    engine.generate_error = None  # a failed answer does not stop the next one (issue 18)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "again")
    assert window.view.messages()[-1].role == "assistant"


def test_no_model_says_what_to_do(qtbot, make_window):
    window, _ = make_window(model_path="")
    assert window.state == "no-model"
    notices = [m for m in window.view.messages() if m.role == "notice"]
    assert notices and notices[0].text == NO_MODEL_TEXT
    _type_and_send(qtbot, window, "question without a model")
    assert any(m.text == "question without a model" for m in window.view.messages())


def test_closing_mid_stream_ends_the_thread(qtbot, make_window):
    engine = FakeChatEngine(tokens=["y "] * 10_000, delay_s=0.01)
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    _type_and_send(qtbot, window, "go")
    qtbot.waitUntil(lambda: len(engine.emitted) > 3, timeout=10_000)
    window.close()
    assert window.chat.qthread.isFinished()
    assert engine.cancelled.is_set()


def test_copy_buttons(qtbot, make_window):
    engine = FakeChatEngine(tokens=["Try:\n\n", "```python\n", "print(1)\n", "```\n"])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "code please")
    reply = window.view.messages()[-1]
    qtbot.mouseClick(reply.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "Try:\n\n```python\nprint(1)\n```\n"
    assert reply.code_blocks == ["print(1)\n"]
    from PySide6.QtCore import QUrl

    reply.body.anchorClicked.emit(QUrl("copy-code:0"))
    assert QGuiApplication.clipboard().text() == "print(1)\n"
    QGuiApplication.clipboard().setText("kept")
    for bad in ("copy-code:abc", "copy-code:-1", "copy-code:99", "copy-code:"):
        reply.body.anchorClicked.emit(QUrl(bad))  # issue 18, 16: "abc" raised
    assert QGuiApplication.clipboard().text() == "kept"


@pytest.mark.parametrize("agree", [True, False])
def test_a_link_opens_only_after_its_address_was_shown(qtbot, make_window, monkeypatch, agree):
    """Issue 18, 16: a link in an answer opened at once, whatever its text said."""
    from PySide6.QtCore import QUrl

    from desktop_assistant.ui import conversation_view

    engine = FakeChatEngine(tokens=["See [the docs](https://example.org/docs?q=1)."])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "link please")
    asked, opened = [], []
    monkeypatch.setattr(
        conversation_view, "ask", lambda parent, title, text: asked.append(text) or agree
    )
    monkeypatch.setattr(conversation_view.QDesktopServices, "openUrl", opened.append)
    window.view.messages()[-1].body.anchorClicked.emit(QUrl("https://example.org/docs?q=1"))
    assert asked and "https://example.org/docs?q=1" in asked[0]
    assert [u.toString() for u in opened] == (["https://example.org/docs?q=1"] if agree else [])


def test_model_output_html_is_not_interpreted(qtbot, make_window):
    engine = FakeChatEngine(tokens=["<b>bold</b> ", "<img src='x.png'>"])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "html")
    body = window.view.messages()[-1].body
    assert "<b>bold</b>" in body.toPlainText()


def test_the_real_engine_in_the_window(qtbot, make_window, tiny_chat_dir):
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.workers.chat import engine_factory_for

    factory = engine_factory_for(Settings())
    window, _ = make_window(model_path=str(tiny_chat_dir), factory=factory)
    _wait_ready(qtbot, window)
    assert window.model_label.text() == f"{tiny_chat_dir.name} · int8"
    window.settings.set("max_new_tokens", 12)
    with qtbot.waitSignal(window.reply_finished, timeout=30_000) as finished:
        _type_and_send(qtbot, window, "Hello")
    assert finished.args[0].stats.new_tokens == 12
    assert window.settings.get("model_path") == str(tiny_chat_dir.resolve())


def test_a_message_sent_before_loading_starts_waits_for_the_model(qtbot, make_window):
    window, engine = make_window(start=False)
    assert window.state == "loading" and "Loading model" in window.state_label.text()
    _type_and_send(qtbot, window, "very early question")
    assert [m.role for m in window.view.messages()] == ["user"]
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.start()
    assert engine.calls[0][-1].content == "very early question"


def test_a_conversation_longer_than_the_context_says_what_was_left_out(
    qtbot, make_window, tiny_chat_dir
):
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.message_list import Entry
    from desktop_assistant.ui.workers.chat import engine_factory_for

    window, _ = make_window(model_path=str(tiny_chat_dir), factory=engine_factory_for(Settings()))
    _wait_ready(qtbot, window)
    window.settings.set("max_new_tokens", 8)
    earlier = []
    for i in range(40):
        earlier += [Entry("user", f"question {i} " * 4), Entry("assistant", "ok " * 8)]
    window.message_list.show(earlier)
    with qtbot.waitSignal(window.reply_finished, timeout=30_000) as finished:
        _type_and_send(qtbot, window, "and the last one?")
    dropped = finished.args[0].stats.dropped_messages
    assert dropped > 0
    notices = [m for m in window.view.messages() if m.role == "notice"]
    assert notices and f"{dropped} oldest messages" in notices[-1].text
    assert "left out to fit" in window.stats_label.text()


@pytest.mark.parametrize(
    "problem",
    [
        "this file is not a conversation export",  # a failed import
        "the disk is full: the conversation was not saved",  # a failed save
        "Something went wrong inside the app: ValueError: x",  # the excepthook
    ],
)
def test_the_window_still_answers_after_a_problem(qtbot, make_window, problem):
    """Any problem used to put the window in an "error" state only a model load left: every
    later message was saved and never answered (issue 18)."""
    engine = FakeChatEngine(tokens=["Fine."])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    window.show_problem(problem)
    assert problem in window.state_label.text()
    assert window.view.messages()[-1].role == "error"
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "are you there?")
    assert window.view.messages()[-1].text == "Fine."


def test_a_blocked_connection_is_said_in_the_status_bar(qtbot, make_window):
    import socket
    import threading

    from desktop_assistant.app import _report_blocked_connections
    from desktop_assistant.core import offline

    window, _ = make_window()
    _report_blocked_connections(window)

    def attempt():  # as a library on a worker thread would
        offline.install_guard()
        try:
            with socket.socket() as s:
                s.connect(("192.0.2.7", 443))
        except offline.NetworkBlocked:
            pass
        finally:
            offline.remove_guard()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    qtbot.waitUntil(
        lambda: "Blocked a connection to 192.0.2.7:443" in window.statusBar().currentMessage(),
        timeout=5_000,
    )


def test_a_bug_shows_its_details_to_copy_and_the_window_goes_on(qtbot, make_window, monkeypatch):
    import sys

    from PySide6.QtWidgets import QMessageBox

    from desktop_assistant.app import _report_bugs_in_the_window

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    engine = FakeChatEngine(tokens=["Still here."])
    window, _ = make_window(engine)
    _wait_ready(qtbot, window)
    _report_bugs_in_the_window(window)
    for n in range(2):  # a burst: one dialog
        try:
            raise ValueError(f"broken thing {n}")
        except ValueError as err:
            sys.excepthook(type(err), err, err.__traceback__)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    details = boxes[0].detailedText()
    assert "broken thing 0" in details and "broken thing 1" in details and "Traceback" in details
    copy = next(b for b in boxes[0].buttons() if b.text() == "Copy details")
    copy.click()
    assert "broken thing 1" in QGuiApplication.clipboard().text()
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        _type_and_send(qtbot, window, "still there?")
    assert window.view.messages()[-1].text == "Still here."
