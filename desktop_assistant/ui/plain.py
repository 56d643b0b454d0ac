"""Text from users, models, files and errors shown as text, never as HTML.

Qt takes any label, tooltip or message box text that looks like HTML (`Qt.mightBeRichText`)
for rich text, and rich text can make Qt load a local file (`<img src=/dev/zero>` in a
conversation title from an import, a model's first line, a file name). So labels that show such
text are set to plain text, and tooltips (which have no such setting) are converted with
`Qt.convertFromPlainText`, which escapes them.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtGui import Qt as GuiQt  # Qt's text functions live in QtGui's namespace
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)


def tip(text: str) -> str:
    """A tooltip that shows `text` as it is ("" for none)."""
    return GuiQt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal) if text else ""


def plain_label(label: QLabel) -> QLabel:
    """`label`, set to show its text as plain text."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def faint(label: QLabel) -> QLabel:
    """`label` in the palette's quieter text colour (figures, hints), which the themes keep
    at WCAG AA contrast."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def view_dialog(
    parent: QWidget | None, title: str, content: QWidget, width: int, height: int
) -> QDialog:
    """A window that shows `content` with a Close button, beside the app (not modal), shown."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    content.setParent(dialog)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(content)
    layout.addWidget(buttons)
    dialog.resize(width, height)
    dialog.setModal(False)
    dialog.show()
    return dialog


def ask(parent: QWidget | None, title: str, question: str) -> bool:
    """A Yes/No question whose text is shown as it is."""
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(question)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


class ElidedLabel(QLabel):
    """A one-line plain-text label that takes the room left to it and ends its text with "…"
    where it does not fit (the whole text is in its tooltip and `text()`), so a long error
    never runs into what stands beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(40, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """What is drawn: the text on one line, cut to the label's width."""
        line = " ".join(self.text().split())
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), align, self.shown_text())
