"""What a new user found wrong in the window (issue 20), each checked as they met it."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from desktop_assistant.ui.menus import shortcut_rows
from tests.fakes import FakeChatEngine
from tests.ui.helpers import send, wait_ready


def test_an_answer_is_not_labelled_cut_off_while_it_streams(qtbot, make_window):
    engine = FakeChatEngine(tokens=[f"w{i} " for i in range(40)], delay_s=0.02)
    window, _ = make_window(engine)
    wait_ready(qtbot, window)
    send(qtbot, window, "Tell me a story")
    qtbot.waitUntil(
        lambda: len(window.view.messages()) == 2 and bool(window.view.messages()[1].text)
    )
    answer = window.view.messages()[1]
    seen = set()
    while window.state == "generating":
        seen.add(answer.stats_label.text())
        qtbot.wait(15)
    assert seen and not any("cut off" in text for text in seen), seen
    assert "tok/s" in answer.stats_label.text()


def test_a_reopened_chat_shows_each_answers_speed(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeChatEngine(tokens=["Blue ", "whales."]), history=db)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "Which animal sings?")
    shown = window.view.messages()[1].stats_label.text()
    assert "tok/s" in shown and "2 tokens" in shown
    conversation_id = window.conversation_id
    window.close()

    again, _ = make_window(history=db)
    qtbot.waitUntil(lambda: again.conversations.sidebar.model.rowCount() > 0)
    again.conversations.open(conversation_id)
    qtbot.waitUntil(lambda: len(again.view.messages()) == 2)
    assert again.view.messages()[1].stats_label.text() == shown


def test_a_long_error_in_the_status_bar_stops_short_of_the_figures(qtbot, make_window):
    window, _ = make_window(FakeChatEngine(tokens=["Hi."]))
    window.resize(800, 500)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        send(qtbot, window, "hello")
    message = "The model could not be loaded from ~/models/" + "long-name-" * 20
    window.show_problem(message)
    qtbot.wait(50)
    state, stats = window.state_label, window.stats_label
    assert "tok/s" in stats.text()
    assert state.geometry().right() < stats.geometry().left()
    shown = state.shown_text()
    assert shown.endswith("…") and state.fontMetrics().horizontalAdvance(shown) <= state.width()
    assert state.text() == f"Problem: {message}" and message in state.toolTip()


def test_settings_take_effect_at_once(qtbot, make_window):
    engine = FakeChatEngine()
    loads: list[str] = []
    window, _ = make_window(factory=lambda path: loads.append(path) or engine)
    wait_ready(qtbot, window)
    assert loads == ["/models/fake-model"]
    window.settings.set("precision", "int4")  # as the dialog's OK does
    qtbot.waitUntil(lambda: len(loads) == 2 and window.state == "ready", timeout=10_000)
    window.settings.set("threads", 1)
    qtbot.waitUntil(lambda: len(loads) == 3 and window.state == "ready", timeout=10_000)
    window.settings.set("model_path", "/models/other-model")
    qtbot.waitUntil(lambda: loads[-1] == "/models/other-model", timeout=10_000)
    wait_ready(qtbot, window)
    window.settings.set("temperature", 0.2)  # read at the next answer: nothing reloads
    window.settings.set("model_path", "/models/other-model/")  # the same folder
    qtbot.wait(100)
    assert len(loads) == 4


def test_the_settings_dialog_speaks_the_users_language(qtbot, tmp_path):
    from PySide6.QtWidgets import QFormLayout, QLabel, QSpinBox

    from desktop_assistant.core.settings import SCHEMA, Settings
    from desktop_assistant.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(tmp_path / "s.json"))
    qtbot.addWidget(dialog)
    form = dialog.findChild(QFormLayout)
    labels = [
        form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget().text()
        for row in range(form.rowCount())
    ]
    for raw in ("Stt model path", "Vad silence s", "Threads", "Model path", "Top p"):
        assert raw not in labels
    assert "Speech model folder" in labels and "CPU threads" in labels
    threads = dialog.editors["threads"]
    assert isinstance(threads, QSpinBox) and threads.text() == "Automatic"  # not "0"
    for spec in (s for s in SCHEMA if s.shown):
        editor = dialog.editors[spec.name]
        assert editor.accessibleName() == spec.title and spec.applies in editor.toolTip()
    assert any("reloads the model" in w.text() for w in dialog.findChildren(QLabel))


def test_the_window_comes_back_as_it_was_left(qtbot, make_window, tmp_path):
    window, _ = make_window(history=tmp_path / "history.sqlite3")
    window.resize(700, 520)  # within the offscreen screen (800 x 600)
    window.splitter.setSizes([300, 400])
    qtbot.wait(20)
    sidebar = window.splitter.sizes()[0]
    window.close()
    again, _ = make_window(history=tmp_path / "history.sqlite3")
    assert (again.width(), again.height()) == (700, 520)
    assert again.splitter.sizes()[0] == sidebar


def test_an_empty_chat_offers_examples_that_fill_the_prompt_box(qtbot, make_window, monkeypatch):
    from desktop_assistant.ui.composer import Composer

    picked = []
    monkeypatch.setattr(Composer, "pick_files", lambda self: picked.append(True))
    window, _ = make_window()
    wait_ready(qtbot, window)
    examples = window.view.examples
    assert examples.isVisibleTo(window)
    examples.buttons["text"].click()
    assert window.composer.text().startswith("Explain how a rainbow forms")
    examples.buttons["picture"].click()
    qtbot.waitUntil(lambda: picked == [True])
    assert window.composer.text() == "What is in this picture?"
    examples.buttons["voice"].click()  # no speech model here: it says how to get one
    assert "speech model" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.composer.submit()
    assert not examples.isVisibleTo(window)
    window.new_chat()
    assert examples.isVisibleTo(window)


def test_the_text_size_is_kept(qtbot, make_window):
    window, _ = make_window()
    size = window.composer.edit.font().pointSize()
    window.zoom(2)
    window.zoom(1)
    assert window.composer.edit.font().pointSize() == size + 3
    window.close()
    again, _ = make_window()
    assert again.composer.edit.font().pointSize() == size + 3
    assert again.view.font().pointSize() == window.view.font().pointSize()


def test_the_chat_list_can_be_hidden_and_stays_so(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(history=db)
    wait_ready(qtbot, window)
    sidebar = window.conversations.sidebar
    toggle = next(a for a in window.actions() if a.text() == "&Chat list")
    assert toggle.isChecked() and sidebar.isVisible()
    assert toggle.shortcut().toString() == "Ctrl+B"
    sidebar.search_box.setFocus()
    toggle.trigger()  # Ctrl+B
    assert not sidebar.isVisible()
    assert not sidebar.isAncestorOf(QApplication.focusWidget() or window)  # focus not lost
    window.close()
    again, _ = make_window(history=db)
    toggle = next(a for a in again.actions() if a.text() == "&Chat list")
    assert not toggle.isChecked() and not again.conversations.sidebar.isVisibleTo(again)
    toggle.trigger()
    assert again.conversations.sidebar.isVisibleTo(again)
    assert ("Ctrl+B", "Chat list") in shortcut_rows(again)
