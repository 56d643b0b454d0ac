"""Everything is reachable with Tab, in the order it is shown (issue 20)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget


def tabbed(qtbot, window, presses: int = 60, key=Qt.Key.Key_Tab) -> list[QWidget]:
    """The widgets focus lands on when Tab is pressed over and over from the composer, once
    round (the first one repeated ends it)."""
    window.activateWindow()
    window.composer.edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit)
    seen: list[QWidget] = [window.composer.edit]
    for _ in range(presses):
        qtbot.keyClick(QApplication.focusWidget(), key)
        widget = QApplication.focusWidget()
        if widget is seen[0]:
            return seen
        assert widget not in seen, f"Tab came back to {describe(widget)} before the start"
        seen.append(widget)
    raise AssertionError(f"Tab never came back to the start: {[describe(w) for w in seen]}")


def describe(widget) -> str:
    text = getattr(widget, "text", lambda: "")
    name = widget.accessibleName() or (text() if callable(text) else "") or widget.toolTip()
    return f"{type(widget).__name__}:{name}"


def _chatted(qtbot, make_window, tmp_path):
    window, _ = make_window(history=tmp_path / "history.sqlite3")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    window.send("Hello")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 2)
    return window


def test_tab_goes_round_the_window_in_the_order_it_is_shown(qtbot, make_window, tmp_path):
    window = _chatted(qtbot, make_window, tmp_path)
    older = window.view.add_older([("user", "An older question"), ("assistant", "Its answer")])
    qtbot.waitUntil(lambda: all(m.body.isVisible() for m in older))
    seen = tabbed(qtbot, window)
    sidebar, composer, view = window.conversations.sidebar, window.composer, window.view
    # from the box: its buttons, then the sidebar, the system prompt, the conversation
    # (older messages first, each message's buttons before its text), and back to the box
    assert seen[:3] == [composer.edit, composer.button, composer.attach_button]
    after_composer = seen[3:]
    assert after_composer[:3] == [sidebar.new_button, sidebar.search_box, sidebar.list]
    picker = window.system_picker
    assert after_composer[3] is picker or picker.isAncestorOf(after_composer[3])
    assert after_composer[4] is view and view.accessibleName() == "Conversation"
    assert window.view.messages()[:2] == older
    bodies = [w for w in after_composer if w in [m.body for m in window.view.messages()]]
    assert bodies == [m.body for m in window.view.messages()]
    for message in window.view.messages():  # its visible buttons, then its text
        stops = [w for w in after_composer if message.isAncestorOf(w)]
        assert stops and stops[-1] is message.body, [describe(w) for w in stops]
    assert QApplication.focusWidget() is composer.edit


def test_shift_tab_goes_back_the_same_way(qtbot, make_window, tmp_path):
    window = _chatted(qtbot, make_window, tmp_path)
    forward = tabbed(qtbot, window)
    backward = tabbed(qtbot, window, key=Qt.Key.Key_Backtab)
    assert backward == [forward[0], *reversed(forward[1:])]


def test_the_example_prompts_of_an_empty_chat_are_reachable(qtbot, make_window):
    window, _ = make_window()
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    examples = window.view.examples
    assert examples.isVisibleTo(window)
    seen = tabbed(qtbot, window)
    stops = [w for w in seen if examples.isAncestorOf(w)]
    assert len(stops) >= 3, [describe(w) for w in seen]
    assert seen.index(stops[0]) > seen.index(window.view)  # inside the conversation, in order
    assert seen.index(stops[-1]) == len(seen) - 1  # the last stop before the box again
