"""The app's icon (assets/desktop-assistant.svg and its PNG sizes) and the buttons' icons."""

from __future__ import annotations

import functools

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton

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


# The buttons' icons: assets/icons/ui/<name>.svg, one colour ("currentColor"), drawn in the
# palette's button text colour so they follow the theme.
BUTTON_ICONS = ("send", "stop", "mic", "picture", "copy", "speak")
ICON_PROPERTY = "icon_name"  # a button's icon, set again when the theme changes


@functools.lru_cache(maxsize=64)
def _drawn(name: str, colour: str) -> QIcon:
    folder = paths.assets_dir()
    icon = QIcon()
    if folder is None:
        return icon
    try:
        svg = (folder / "icons" / "ui" / f"{name}.svg").read_text(encoding="utf-8")
    except OSError:
        return icon
    renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", colour).encode("utf-8")))
    for size in (16, 24, 32, 48):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def button_icon(name: str) -> QIcon:
    """The icon `name` in the current palette's button text colour (empty without assets)."""
    colour = QGuiApplication.palette().color(QPalette.ColorRole.ButtonText).name()
    return _drawn(name, colour)


def set_button_icon(button: QAbstractButton, name: str) -> None:
    """Give `button` the icon `name`, now and after every theme change (`theme.apply_theme`)."""
    button.setProperty(ICON_PROPERTY, name)
    button.setIcon(button_icon(name))


def redraw_icon(button: QAbstractButton) -> None:
    """Draw a button's icon (set with `set_button_icon`) again in the palette's colours."""
    name = button.property(ICON_PROPERTY)
    if name:
        button.setIcon(button_icon(str(name)))
