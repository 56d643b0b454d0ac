"""The window's menus and their shortcuts."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from desktop_assistant import __version__


def _action(window: Any, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(shortcut)
    action.triggered.connect(slot)
    menu.addAction(action)
    window.addAction(action)  # shortcuts work while the menu bar is hidden too
    return action


def add_menus(window: Any) -> None:
    file_menu = window.menuBar().addMenu("&File")
    if window.history is not None:
        window.conversations.add_actions(file_menu)
    keys = QKeySequence.StandardKey
    _action(window, file_menu, "&Models…", window.setup.open_manager, QKeySequence("Ctrl+M"))
    _action(window, file_menu, "&Open model folder…", window.setup.choose_folder, keys.Open)
    _action(window, file_menu, "&Settings…", window.open_settings, QKeySequence("Ctrl+,"))
    _action(window, file_menu, "&Quit", window.close, keys.Quit)
    view_menu = window.menuBar().addMenu("&View")
    _action(window, view_menu, "Zoom &in", lambda: window.zoom(1), keys.ZoomIn)
    _action(window, view_menu, "Zoom &out", lambda: window.zoom(-1), keys.ZoomOut)
    help_menu = window.menuBar().addMenu("&Help")
    _action(window, help_menu, "&About", lambda: _about(window))


def _about(window: Any) -> None:
    QMessageBox.about(
        window,
        "About Desktop Assistant",
        f"Desktop Assistant {__version__}\nAn offline assistant that runs on this computer.",
    )
