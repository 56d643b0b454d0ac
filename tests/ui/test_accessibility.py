"""Keyboard and screen readers (issue 20): every control named, every shortcut listed."""

from __future__ import annotations

from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QTextEdit,
    QTreeView,
    QWidget,
)

from desktop_assistant.ui.menus import shortcut_rows, show_shortcuts

INTERACTIVE = (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QListView,
    QTreeView,
)


def unnamed(root) -> list[str]:
    """Interactive widgets a screen reader would announce without a name."""
    found = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or not widget.isVisibleTo(root):
            continue
        if isinstance(widget.parentWidget(), INTERACTIVE):
            continue  # a part of one (a spin box's text field): the control has the name
        interface = QAccessible.queryAccessibleInterface(widget)
        name = interface.text(QAccessible.Text.Name) if interface is not None else ""
        if not name.strip():
            found.append(f"{type(widget).__name__} {widget.objectName()!r}")
    return found


def test_every_control_of_the_window_has_a_name(qtbot, make_window, tmp_path):
    window, _ = make_window(history=tmp_path / "history.sqlite3")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    window.send("Hello")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 2)
    assert unnamed(window) == []


def test_f1_lists_every_shortcut(qtbot, make_window):
    window, _ = make_window()
    rows = dict(shortcut_rows(window))
    for keys in ("Ctrl+,", "Ctrl+Q", "Ctrl+L", "Ctrl+Shift+C", "Ctrl+M", "F1"):
        assert keys in rows, rows
    assert rows["Ctrl+L"] == "Write a message" and rows["Ctrl+Shift+C"] == "Copy the last answer"
    assert "Enter" in rows and "Esc" in rows
    dialog = show_shortcuts(window)
    qtbot.addWidget(dialog)
    assert dialog.isVisible() and unnamed(dialog) == []


def test_the_dialogs_and_the_setup_page_name_their_controls(qtbot, tmp_path):
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.first_run import FirstRunPage
    from desktop_assistant.ui.model_manager import ModelManagerDialog
    from desktop_assistant.ui.remote_servers import RemoteServersDialog
    from desktop_assistant.ui.settings_dialog import SettingsDialog

    settings = Settings(tmp_path / "settings.json")
    dialogs = (SettingsDialog(settings), ModelManagerDialog(settings), FirstRunPage(settings),
               RemoteServersDialog(settings))  # fmt: skip
    for widget in dialogs:
        qtbot.addWidget(widget)
        widget.show()
        assert unnamed(widget) == [], type(widget).__name__
