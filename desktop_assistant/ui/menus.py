"""The window's menus and their shortcuts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox

from desktop_assistant import __version__
from desktop_assistant.ui.conversations import Conversations
from desktop_assistant.ui.model_setup import ModelSetup


def _action(
    window: QMainWindow,
    menu: QMenu,
    text: str,
    slot: Callable[[], object],
    shortcut: QKeySequence | QKeySequence.StandardKey | None = None,
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
    open_settings: Callable[[], object],
    zoom: Callable[[int], object],
) -> None:
    """File, View and Help on `window`'s menu bar (a plain QMainWindow: only its menu bar and
    shortcuts are used)."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    if conversations is not None:
        for text, shortcut, slot in conversations.actions():
            _action(window, file_menu, text, slot, shortcut)
        file_menu.addSeparator()
    keys = QKeySequence.StandardKey
    _action(window, file_menu, "&Models…", setup.open_manager, QKeySequence("Ctrl+M"))
    _action(window, file_menu, "&Open model folder…", setup.choose_folder, keys.Open)
    _action(window, file_menu, "&Settings…", open_settings, QKeySequence("Ctrl+,"))
    _action(window, file_menu, "&Quit", window.close, keys.Quit)
    view_menu = bar.addMenu("&View")
    _action(window, view_menu, "Zoom &in", lambda: zoom(1), keys.ZoomIn)
    _action(window, view_menu, "Zoom &out", lambda: zoom(-1), keys.ZoomOut)
    help_menu = bar.addMenu("&Help")
    _action(window, help_menu, "&About", lambda: _about(window))


def _about(window: QMainWindow) -> None:
    QMessageBox.about(
        window,
        "About Desktop Assistant",
        f"Desktop Assistant {__version__}\nAn offline assistant that runs on this computer.",
    )
