"""The conversation: a scrolling column of message bubbles.

Each `MessageWidget` renders its own text, so a streaming answer re-renders one message, not
the whole conversation. Assistant text is Markdown; user text is shown as typed.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.ui.markdown import COPY_CODE_SCHEME, render_markdown, render_plain

ROLE_TITLES = {"user": "You", "assistant": "Assistant", "error": "Problem", "notice": "Note"}
ROLE_STYLES = {
    "user": "background-color: #e8f0fe; border-radius: 8px;",
    "assistant": "background-color: #ffffff; border: 1px solid #e1e4e8; border-radius: 8px;",
    "error": "background-color: #fdecea; border: 1px solid #f5c2c0; border-radius: 8px;",
    "notice": "background-color: #fff8e1; border: 1px solid #f0dca0; border-radius: 8px;",
}


class _FittedBrowser(QTextBrowser):
    """A read-only rich-text view exactly as tall as its text (the outer area scrolls)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.setStyleSheet("background: transparent;")
        self.document().setDocumentMargin(2)
        # Queued: the document lays itself out lazily, sometimes while being painted, and a
        # resize from inside a paint is a recursive repaint (seen to crash under load).
        self.document().documentLayout().documentSizeChanged.connect(
            self._fit, Qt.ConnectionType.QueuedConnection
        )

    def loadResource(self, kind: int, name: QUrl):  # noqa: N802 (Qt API)
        """Never load images or other resources named by model output."""
        return None

    def _fit(self, *_: object) -> None:
        height = int(self.document().size().height()) + 4
        if self.height() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(400, int(self.document().size().height()) + 4)


class MessageWidget(QFrame):
    """One message: who said it, its text, its stats, and a Copy button.

    Signals: copied(str) when text was put on the clipboard.
    """

    copied = Signal(str)

    def __init__(self, role: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = 0  # row in the history database, once known
        self._text = ""
        self._code_blocks: list[str] = []
        self.setObjectName("message")
        self.setStyleSheet(f"QFrame#message {{ {ROLE_STYLES[role]} }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        header = QHBoxLayout()
        self.title = QLabel(f"<b>{ROLE_TITLES[role]}</b>")
        self.stats_label = QLabel()
        self.stats_label.setStyleSheet("color: #6a737d;")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setFlat(True)
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.setToolTip("Copy this message")
        self.copy_button.clicked.connect(self.copy_text)
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.stats_label)
        header.addWidget(self.copy_button)
        layout.addLayout(header)
        self.body = _FittedBrowser(self)
        self.body.anchorClicked.connect(self._on_anchor)
        layout.addWidget(self.body)
        if text:
            self.set_text(text)

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        self._text = text
        if self.role == "assistant":
            rendered = render_markdown(text)
            self._code_blocks = rendered.code_blocks
            self.body.setHtml(rendered.html)
        else:
            self.body.setHtml(render_plain(text))

    def set_stats(self, text: str) -> None:
        self.stats_label.setText(text)

    @property
    def code_blocks(self) -> list[str]:
        return list(self._code_blocks)

    def copy_text(self) -> None:
        self._copy(self._text)

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() == COPY_CODE_SCHEME:
            index = int(url.path() or -1)
            if 0 <= index < len(self._code_blocks):
                self._copy(self._code_blocks[index])
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)  # only on the user's click


class ConversationView(QScrollArea):
    """All messages of the conversation, newest at the bottom.

    Follows the newest text while the user is at the bottom; leaves them alone when they
    have scrolled up to read.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        self._layout = QVBoxLayout(container)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        self.setWidget(container)
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    def add_message(self, role: str, text: str = "", at_top: bool = False) -> MessageWidget:
        widget = MessageWidget(role, text)
        if at_top:  # older history drawn above; the scroll position follows the bottom
            self._layout.insertWidget(0, widget)
            return widget
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._follow = True
        QTimer.singleShot(0, self.scroll_to_bottom)
        return widget

    def remove_message(self, widget: MessageWidget) -> None:
        self._layout.removeWidget(widget)
        widget.deleteLater()

    def clear(self) -> None:
        for widget in self.messages():
            self.remove_message(widget)

    def scroll_to(self, widget: QWidget) -> None:
        self._follow = False
        QTimer.singleShot(0, lambda: self.ensureWidgetVisible(widget, 0, 40))

    def messages(self) -> list[MessageWidget]:
        items = (self._layout.itemAt(i).widget() for i in range(self._layout.count()))
        return [w for w in items if isinstance(w, MessageWidget)]

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
