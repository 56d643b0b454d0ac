"""Where the user writes: a multi-line box and a Send / Stop button.

Enter sends, Shift+Enter starts a new line, Esc stops. An empty or whitespace-only prompt is
not sent. The row leaves room on the left for attachments and on the right for the microphone.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.ui.document_tray import DocumentTray
from desktop_assistant.ui.icons import set_button_icon
from desktop_assistant.ui.image_tray import ImageTray
from desktop_assistant.ui.plain import faint

PLACEHOLDER = (
    "Ask anything. Enter sends, Shift+Enter adds a line. Drop or paste images or documents."
)


def local_files(mime: QMimeData) -> list[Path]:
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class PromptEdit(QPlainTextEdit):
    """Signals: submitted() on Enter, stop_requested() on Esc; files_given(paths) and
    image_given(QImage) when files or image data are pasted or dropped into the box."""

    submitted = Signal()
    stop_requested = Signal()
    files_given = Signal(list)
    image_given = Signal(QImage)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt API)
        return (
            bool(local_files(source)) or source.hasImage() or super().canInsertFromMimeData(source)
        )

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt API)
        """Copied files and image data become attachments, not text."""
        files = local_files(source)
        if files:
            self.files_given.emit(files)
        elif source.hasImage():
            image = source.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.image_given.emit(image)
        else:
            super().insertFromMimeData(source)

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
    """Signals: send_requested(str) with the prompt text, stop_requested(), files_given(paths)
    when files were pasted, dropped or picked (the window sorts images from audio)."""

    send_requested = Signal(str)
    stop_requested = Signal()
    files_given = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = PromptEdit(self)
        self.edit.setAccessibleName("Message to the assistant")
        self.edit.setPlaceholderText(PLACEHOLDER)
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
        faint(self.edit_banner)
        self.edit_banner.hide()
        self._draft = ""  # what was in the box before an edit began
        self.tray = ImageTray(self)
        self.documents = DocumentTray(self)
        self.attach_button = QPushButton("Attach…", self)
        self.attach_button.setToolTip(
            "Attach pictures or documents to ask about (or drop or paste them)"
        )
        self.attach_button.clicked.connect(self.pick_files)
        set_button_icon(self.attach_button, "picture")
        set_button_icon(self.button, "send")
        self.tools = QVBoxLayout()  # the microphone button goes here too
        self.tools.addWidget(self.button)
        self.tools.addWidget(self.attach_button)
        self.tools.addStretch(1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addLayout(self.tools)
        outer = QVBoxLayout(self)
        self._outer = outer
        outer.setContentsMargins(12, 6, 12, 6)
        outer.addWidget(self.edit_banner)
        outer.addWidget(self.documents)
        outer.addWidget(self.tray)
        outer.addLayout(row)
        self._busy = False
        self.edit.submitted.connect(self.submit)
        self.edit.stop_requested.connect(self.stop_requested)
        self.edit.files_given.connect(self.files_given)
        self.edit.image_given.connect(self.tray.add_pasted)
        self.setObjectName("composer")
        self.button.clicked.connect(self._on_button)

    def add_row_on_top(self, widget: QWidget) -> None:
        """A row above the prompt box (the voice part's status and level meter)."""
        self._outer.insertWidget(0, widget)

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        """While an answer is pending the button is Stop and Enter does not send."""
        self._busy = busy
        self.button.setText("Stop" if busy else "Send")
        set_button_icon(self.button, "stop" if busy else "send")
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
            self.submit()

    def pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Attach pictures or documents",
            str(Path.home()),
            "Pictures and documents (*.png *.jpg *.jpeg *.webp *.avif *.gif *.bmp *.tif *.tiff "
            "*.heic *.heif *.pdf *.docx *.md *.txt *.html *.htm);;"
            "Images (*.png *.jpg *.jpeg *.webp *.avif *.gif *.bmp *.tif *.tiff *.heic *.heif);;"
            "Documents (*.pdf *.docx *.md *.markdown *.txt *.html *.htm *.rst *.csv *.json);;"
            "All files (*)",
        )
        if files:
            self.files_given.emit([Path(f) for f in files])  # sorted by the window's intake

    def set_drop_highlight(self, on: bool) -> None:
        """Light up while something is dragged over the window."""
        self.setStyleSheet(
            "QWidget#composer { border: 2px dashed palette(highlight); border-radius: 8px; }"
            if on
            else ""
        )
        self.edit.setPlaceholderText(
            "Drop images or documents to ask about them, or an audio file to transcribe it."
            if on
            else PLACEHOLDER
        )

    def submit(self) -> None:
        """Send what is in the box (Enter, the Send button, hands-free); never stops an
        answer: while one is pending this does nothing."""
        if self._busy:
            return
        text = self.edit.toPlainText()
        if self.tray.busy:
            self.tray.problem.emit("Still reading the images; send again in a moment.")
            return
        if self.documents.busy:
            self.documents.problem.emit("Still reading the documents; send again in a moment.")
            return
        if not text.strip() and not self.tray.images():
            return
        if not self.edit_banner.isHidden():
            self.edit_banner.hide()
            self.edit.setPlainText(self._draft)
            self._draft = ""
        else:
            self.edit.clear()
        self.send_requested.emit(text.strip("\n"))
