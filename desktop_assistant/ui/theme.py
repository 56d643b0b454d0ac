"""Light or dark colours for the whole window, or the system's choice.

The colour-scheme hint is set for platforms that honour it, and the palette is set directly
as well: Qt's generic Linux theme (and the offscreen one) ignores the hint.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop_assistant.ui import markdown

SCHEMES = {
    "system": Qt.ColorScheme.Unknown,
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
}
DARK = {
    QPalette.ColorRole.Window: "#202124",
    QPalette.ColorRole.WindowText: "#e8eaed",
    QPalette.ColorRole.Base: "#2b2c2f",
    QPalette.ColorRole.AlternateBase: "#323336",
    QPalette.ColorRole.ToolTipBase: "#3c4043",
    QPalette.ColorRole.ToolTipText: "#e8eaed",
    QPalette.ColorRole.Text: "#e8eaed",
    QPalette.ColorRole.PlaceholderText: "#9aa0a6",
    QPalette.ColorRole.Button: "#303134",
    QPalette.ColorRole.ButtonText: "#e8eaed",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: "#8ab4f8",
    QPalette.ColorRole.HighlightedText: "#202124",
    QPalette.ColorRole.Link: "#8ab4f8",
    QPalette.ColorRole.Light: "#5f6368",
    QPalette.ColorRole.Midlight: "#4a4b4f",
    QPalette.ColorRole.Mid: "#3c4043",
    QPalette.ColorRole.Dark: "#17181a",
}


_changed = False  # a theme other than the system's was applied in this process


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7f8386"))
    return palette


def apply_theme(name: str) -> None:
    """Switch the colours; code blocks drawn after this use matching ones."""
    global _changed
    if name not in ("light", "dark") and not _changed:
        return  # the system's colours are already there: nothing to redo at start-up
    _changed = True
    app = QApplication.instance()
    hints = QGuiApplication.styleHints()
    scheme = SCHEMES.get(name, Qt.ColorScheme.Unknown)
    if scheme == Qt.ColorScheme.Unknown:
        hints.unsetColorScheme()
    else:
        hints.setColorScheme(scheme)
    if isinstance(app, QApplication):
        if name == "dark":
            app.setPalette(dark_palette())
        elif name == "light":
            app.setPalette(app.style().standardPalette())
        else:
            app.setPalette(QPalette())
    markdown.set_dark(is_dark())


def is_dark() -> bool:
    return QGuiApplication.palette().window().color().lightness() < 128
