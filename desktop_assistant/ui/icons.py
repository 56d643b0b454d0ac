"""The app's icon (assets/desktop-assistant.svg and its PNG sizes) as a QIcon."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from desktop_assistant.core import paths


def app_icon() -> QIcon:
    """Every size there is, so each place (title bar, task switcher, dock) picks its own; an
    empty icon when the assets are not installed."""
    icon = QIcon()
    folder = paths.assets_dir()
    if folder is None:
        return icon
    for png in sorted((folder / "icons").glob("desktop-assistant-*.png")):
        icon.addFile(str(png))
    icon.addFile(str(folder / "desktop-assistant.svg"))
    return icon
