"""What UI tests do to a window again and again."""

from __future__ import annotations

from PySide6.QtCore import Qt


def send(qtbot, window, text: str) -> None:
    """Type `text` into the composer and press Return, as a user does."""
    qtbot.keyClicks(window.composer.edit, text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)


def wait_ready(qtbot, window, timeout: int = 20_000) -> None:
    """Wait until the model is loaded and nothing is being answered."""
    qtbot.waitUntil(lambda: window.state == "ready", timeout=timeout)
