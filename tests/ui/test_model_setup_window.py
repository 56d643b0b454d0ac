"""The window with no model: the first-run page; File → Models… opens the manager."""

from __future__ import annotations

from desktop_assistant.ui.first_run import FirstRunPage
from desktop_assistant.ui.model_manager import ModelManagerDialog


def test_no_model_opens_on_the_setup_page_and_a_chosen_model_loads(qtbot, make_window):
    window, engine = make_window(model_path="")
    page = window.centralWidget()
    assert isinstance(page, FirstRunPage)
    assert any("No chat model" in w.text for w in window.view.messages())  # kept behind it
    page.model_ready.emit("chat", "/models/fake-model")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    page.setup_finished.emit()
    assert window.centralWidget() is not page and window.setup.page is None
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
