"""Light or dark colours for the whole window, or the system's choice.

The colour-scheme hint is set for platforms that honour it, and the palette is set directly
as well: Qt's generic Linux theme (and the offscreen one) ignores the hint.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QAbstractButton, QApplication

from desktop_assistant.ui import markdown
from desktop_assistant.ui.icons import redraw_icon

SCHEMES = {
    "system": Qt.ColorScheme.Unknown,
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
}
# Our light palette, rather than the style's: its pairs are checked for contrast like the dark
# one's (tests/ui/test_theme.py: WCAG AA, 4.5:1 for text, also on the message bubbles).
LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1f2328",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f6f8fa",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1f2328",
    QPalette.ColorRole.Text: "#1f2328",
    QPalette.ColorRole.PlaceholderText: "#565d66",
    QPalette.ColorRole.Button: "#e9ebee",
    QPalette.ColorRole.ButtonText: "#1f2328",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: "#1a5fd1",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#0b57d0",
    QPalette.ColorRole.Light: "#ffffff",
    QPalette.ColorRole.Midlight: "#d8dce1",
    QPalette.ColorRole.Mid: "#b6bcc4",
    QPalette.ColorRole.Dark: "#8c939c",
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


# Message bubbles: a tint over the window's colour (red, green, blue, alpha), per role.
BUBBLE_TINTS = {
    "user": (66, 133, 244, 0.13),
    "error": (217, 48, 37, 0.12),
    "notice": (249, 171, 0, 0.13),
}
DISABLED_TEXT = {"light": "#8c939c", "dark": "#7f8386"}  # exempt from contrast (WCAG 1.4.3)


def palette_of(name: str) -> QPalette:
    """The "light" or "dark" palette."""
    colours = DARK if name == "dark" else LIGHT
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(DISABLED_TEXT[name]))
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
        if name in ("dark", "light"):
            app.setPalette(palette_of(name))
        else:
            app.setPalette(QPalette())
        # A widget with its own style sheet resolved `palette(...)` and its background when
        # the sheet was set, and keeps them through a palette change (the conversation
        # stayed light in the dark theme): set each sheet again.
        # Button icons are drawn in the palette's colours: draw them again too.
        for widget in app.allWidgets():
            sheet = widget.styleSheet()
            if sheet:
                widget.setStyleSheet("")
                widget.setStyleSheet(sheet)
            if isinstance(widget, QAbstractButton):
                redraw_icon(widget)
    markdown.set_dark(is_dark())


def is_dark() -> bool:
    return QGuiApplication.palette().window().color().lightness() < 128
