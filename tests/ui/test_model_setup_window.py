"""The window with no model: the first-run page; File → Models… opens the manager."""

from __future__ import annotations

from desktop_assistant.ui.first_run import FirstRunPage
from desktop_assistant.ui.model_manager import ModelManagerDialog


def test_no_model_opens_on_the_setup_page_and_a_chosen_model_loads(qtbot, make_window):
    window, engine = make_window(model_path="")
    page = window.pages.currentWidget()
    assert isinstance(page, FirstRunPage)
    assert any("No chat model" in w.text for w in window.view.messages())  # kept behind it
    page.model_ready.emit("chat", "/models/fake-model")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    assert not any("No chat model" in w.text for w in window.view.messages())  # not stale
    page.setup_finished.emit()
    assert window.pages.currentWidget() is not page and window.setup.page is None
    assert window.composer.isVisibleTo(window)


def test_a_speech_model_chosen_there_becomes_the_setting(qtbot, make_window):
    window, _ = make_window(model_path="")
    window.setup.use("speech", "/models/whisper-base")
    assert window.settings.get("stt_model_path") == "/models/whisper-base"


def test_models_menu_opens_the_manager(qtbot, make_window, monkeypatch):
    window, _ = make_window()
    opened = []
    monkeypatch.setattr(ModelManagerDialog, "exec", lambda self: opened.append(self) or 0)
    [action] = [a for a in window.actions() if a.text() == "&Models…"]
    action.trigger()
    assert len(opened) == 1
    opened[0].default_changed.emit("chat", "/models/other")
    assert window.model_path == "/models/other"


def test_a_failed_model_switch_keeps_the_queued_message_and_the_typed_text(
    qtbot, make_window, tmp_path
):
    """Issue 18, 11: switching to a model that fails to load, with a message waiting for it
    and more text typed: the message stays (and says it is kept), the box keeps its text, and
    the message is answered by the next model that loads."""
    import threading

    from desktop_assistant.core.errors import ModelError
    from tests.fakes import FakeChatEngine

    good = FakeChatEngine(tokens=["Answered."])
    gate = threading.Event()
    bad = FakeChatEngine(load_gate=gate, load_error=ModelError("model-b has no weights"))
    factory = lambda path: bad if path.endswith("b") else good  # noqa: E731
    window, _ = make_window(factory=factory, model_path="/models/a", history=tmp_path / "h.db")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    window.load_model("/models/b")
    window.composer.edit.setPlainText("Asked while model-b loads")
    window.composer.submit()
    qtbot.waitUntil(lambda: window.waiting, timeout=5_000)
    window.composer.edit.setPlainText("typed next")
    gate.set()
    qtbot.waitUntil(lambda: window.state == "no-model", timeout=10_000)
    shown = [(m.role, m.text) for m in window.view.messages()]
    assert shown[0] == ("user", "Asked while model-b loads")
    assert "model-b has no weights" in shown[-1][1] and "Your message is kept" in shown[-1][1]
    assert window.composer.text() == "typed next" and not window.composer.busy
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.load_model("/models/a")
    assert window.view.messages()[-1].text == "Answered."
    assert good.calls[-1][-1].content == "Asked while model-b loads"
    assert window.composer.text() == "typed next"
