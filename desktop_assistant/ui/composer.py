"""Where the user writes: a multi-line box and a Send / Stop button.

Enter sends, Shift+Enter starts a new line, Esc stops. An empty or whitespace-only prompt is
not sent. The row leaves room on the left for attachments and on the right for the microphone.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class PromptEdit(QPlainTextEdit):
    """Signals: submitted() on Enter, stop_requested() on Esc."""

    submitted = Signal()
    stop_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            mods & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Signals: send_requested(str) with the prompt text, stop_requested()."""

    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = PromptEdit(self)
        self.edit.setPlaceholderText("Ask anything. Enter sends, Shift+Enter adds a line.")
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(84)
        self.button = QPushButton("Send", self)
        self.button.setDefault(True)
        self.button.setMinimumWidth(84)
        self.edit_banner = QLabel(
            "Editing your message: Send asks again from there (what followed it is replaced); "
            "Esc cancels."
        )
        self.edit_banner.setWordWrap(True)
        self.edit_banner.setStyleSheet("color: #6a737d;")
        self.edit_banner.hide()
        self._draft = ""  # what was in the box before an edit began
        self.attachments = QHBoxLayout()  # image thumbnails go here (images issue)
        self.tools = QVBoxLayout()  # the microphone button goes here (voice issue)
        self.tools.addWidget(self.button)
        self.tools.addStretch(1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addLayout(self.tools)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 6)
        outer.addWidget(self.edit_banner)
        outer.addLayout(self.attachments)
        outer.addLayout(row)
        self._busy = False
        self.edit.submitted.connect(self._on_submitted)
        self.edit.stop_requested.connect(self.stop_requested)
        self.button.clicked.connect(self._on_button)

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        """While an answer is pending the button is Stop and Enter does not send."""
        self._busy = busy
        self.button.setText("Stop" if busy else "Send")
        self.button.setToolTip("Stop the answer (Esc)" if busy else "Send (Enter)")

    def text(self) -> str:
        return self.edit.toPlainText()

    @property
    def editing(self) -> bool:
        return not self.edit_banner.isHidden()

    def begin_edit(self, text: str) -> None:
        """Put a sent message back in the box to change it; the draft is kept for later."""
        if self.edit_banner.isHidden():
            self._draft = self.edit.toPlainText()
        self.edit_banner.show()
        self.edit.setPlainText(text)
        self.edit.moveCursor(QTextCursor.MoveOperation.End)
        self.edit.setFocus()

    def end_edit(self) -> None:
        """Cancel an edit: the draft typed before it comes back."""
        if not self.edit_banner.isHidden():
            self.edit_banner.hide()
            self.edit.setPlainText(self._draft)
            self._draft = ""

    def _on_button(self) -> None:
        if self._busy:
            self.stop_requested.emit()
        else:
            self._on_submitted()

    def _on_submitted(self) -> None:
        if self._busy:
            return
        text = self.edit.toPlainText()
        if not text.strip():
            return
        if not self.edit_banner.isHidden():
            self.edit_banner.hide()
            self.edit.setPlainText(self._draft)
            self._draft = ""
        else:
            self.edit.clear()
        self.send_requested.emit(text.strip("\n"))
