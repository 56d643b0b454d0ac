"""The window's menus, their shortcuts, and Help → Keyboard shortcuts (F1), which lists them
from the actions themselves so it cannot go out of date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from desktop_assistant import __version__
from desktop_assistant.ui.conversations import Conversations
from desktop_assistant.ui.model_setup import ModelSetup
from desktop_assistant.ui.plain import view_dialog

Shortcut = QKeySequence | QKeySequence.StandardKey | None

# Keys that are not menu actions: the prompt box's and the microphone button's own.
OTHER_KEYS = (
    ("Enter", "Send the message"),
    ("Shift+Enter", "A new line in the message"),
    ("Esc", "Stop the answer, cancel a recording or an edit"),
    ("Space (outside the prompt box)", "Hold to talk"),
    ("Tab, Shift+Tab", "Move between the controls"),
)


@dataclass(frozen=True)
class WindowActions:
    """What the menus do that belongs to the window: its dialogs, zoom, the prompt box, the
    last answer and the microphone (None without voice input)."""

    open_settings: Callable[[], object]
    zoom: Callable[[int], object]
    focus_composer: Callable[[], object]
    copy_last_answer: Callable[[], object]
    toggle_microphone: Callable[[], object] | None = None
    # shows or hides the list of chats; None without one (no history)
    show_sidebar: Callable[[bool], object] | None = None
    sidebar_shown: bool = True
    open_remote_servers: Callable[[], object] | None = None


def _action(
    window: QMainWindow, menu: QMenu, text: str, slot: Callable[[], object], shortcut: Shortcut
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(shortcut)
    action.triggered.connect(slot)
    menu.addAction(action)
    window.addAction(action)  # shortcuts work while the menu bar is hidden too
    return action


def add_menus(
    window: QMainWindow,
    setup: ModelSetup,
    conversations: Conversations | None,
    actions: WindowActions,
) -> None:
    """File, Edit, View and Help on `window`'s menu bar (a plain QMainWindow: only its menu
    bar and shortcuts are used)."""
    bar = window.menuBar()
    keys = QKeySequence.StandardKey
    file_menu = bar.addMenu("&File")
    if conversations is not None:
        for text, shortcut, slot in conversations.actions():
            _action(window, file_menu, text, slot, shortcut)
        file_menu.addSeparator()
        conversations.add_document_menu(file_menu)
        file_menu.addSeparator()
    _action(window, file_menu, "&Models…", setup.open_manager, QKeySequence("Ctrl+M"))
    _action(window, file_menu, "&Open model folder…", setup.choose_folder, keys.Open)
    if actions.open_remote_servers is not None:
        _action(window, file_menu, "&Remote servers…", actions.open_remote_servers, None)
    _action(window, file_menu, "&Settings…", actions.open_settings, QKeySequence("Ctrl+,"))
    _action(window, file_menu, "&Quit", window.close, QKeySequence("Ctrl+Q"))
    edit_menu = bar.addMenu("&Edit")
    _action(
        window, edit_menu, "&Copy the last answer", actions.copy_last_answer,
        QKeySequence("Ctrl+Shift+C"),
    )  # fmt: skip
    _action(window, edit_menu, "&Write a message", actions.focus_composer, QKeySequence("Ctrl+L"))
    if actions.toggle_microphone is not None:
        _action(
            window, edit_menu, "&Speak (start or stop the microphone)",
            actions.toggle_microphone, QKeySequence("Ctrl+Shift+M"),
        )  # fmt: skip
    view_menu = bar.addMenu("&View")
    _action(window, view_menu, "Zoom &in", lambda: actions.zoom(1), keys.ZoomIn)
    _action(window, view_menu, "Zoom &out", lambda: actions.zoom(-1), keys.ZoomOut)
    if actions.show_sidebar is not None:
        view_menu.addSeparator()
        chats = _action(window, view_menu, "&Chat list", lambda: None, QKeySequence("Ctrl+B"))
        chats.setCheckable(True)
        chats.setChecked(actions.sidebar_shown)
        chats.toggled.connect(actions.show_sidebar)
    help_menu = bar.addMenu("&Help")
    _action(
        window, help_menu, "&Keyboard shortcuts", lambda: show_shortcuts(window),
        QKeySequence(Qt.Key.Key_F1),
    )  # fmt: skip
    _action(window, help_menu, "&About", lambda: _about(window), None)


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(keys, what they do) for every action of the window with a shortcut, then the keys
    of the prompt box and the microphone."""
    rows = []
    for action in window.actions():
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
    return rows + list(OTHER_KEYS)


def show_shortcuts(window: QWidget) -> QDialog:
    rows = shortcut_rows(window)
    table = QTableWidget(len(rows), 2)
    table.setHorizontalHeaderLabels(["Keys", "What they do"])
    table.setAccessibleName("Keyboard shortcuts")
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (keys, what) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(keys))
        table.setItem(row, 1, QTableWidgetItem(what))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    return view_dialog(window, "Keyboard shortcuts", table, 560, 480)


def _about(window: QMainWindow) -> None:
    QMessageBox.about(
        window,
        "About Desktop Assistant",
        f"Desktop Assistant {__version__}\nAn offline assistant that runs on this computer.",
    )
