"""The conversation: a scrolling column of message bubbles.

Each `MessageWidget` renders its own text, so a streaming answer re-renders one message, not
the whole conversation. Assistant text is Markdown; user text is shown as typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core.grounding import CitedSource
from desktop_assistant.ui.examples import ExamplePrompts
from desktop_assistant.ui.flow_layout import FlowLayout
from desktop_assistant.ui.icons import set_button_icon
from desktop_assistant.ui.markdown import (
    COPY_CODE_SCHEME,
    render_markdown,
    render_plain,
    settled_end,
)
from desktop_assistant.ui.plain import ElidedLabel, ask, faint, tip
from desktop_assistant.ui.sources_row import SourcesRow
from desktop_assistant.ui.theme import BUBBLE_TINTS

ROLE_TITLES = {"user": "You", "assistant": "Assistant", "error": "Problem", "notice": "Note"}
SPOKEN_ROLES = {  # what a screen reader says a message is
    "user": "Your message",
    "assistant": "The assistant's answer",
    "error": "A problem",
    "notice": "A note",
}


# Palette roles and translucent tints (theme.BUBBLE_TINTS), so the bubbles follow the theme.
def _tint(role: str, alpha: float) -> str:
    r, g, b, _ = BUBBLE_TINTS[role]
    return f"rgba({r}, {g}, {b}, {alpha})"


ROLE_STYLES = {
    "user": f"background-color: {_tint('user', BUBBLE_TINTS['user'][3])}; border-radius: 8px;",
    "assistant": "background-color: palette(base); border: 1px solid palette(midlight); "
    "border-radius: 8px;",
    "error": f"background-color: {_tint('error', BUBBLE_TINTS['error'][3])}; "
    f"border: 1px solid {_tint('error', 0.35)}; border-radius: 8px;",
    "notice": f"background-color: {_tint('notice', BUBBLE_TINTS['notice'][3])}; "
    f"border: 1px solid {_tint('notice', 0.4)}; border-radius: 8px;",
}
# One style sheet for every message: a sheet per widget costs ~1 ms each to parse and apply.
VIEW_STYLE = "\n".join(
    [f'QFrame#message[role="{role}"] {{ {style} }}' for role, style in ROLE_STYLES.items()]
    + [
        "QTextBrowser { background: transparent; }",
    ]
)
MARGIN = 12  # around the messages
COLUMN_CHARS = 130  # the widest the messages get, in average characters (~120 a line)
# The buttons a message can show, in order: (action, label, tooltip).
ACTIONS = (
    ("older", "‹", "Show the previous version of this answer"),
    ("newer", "›", "Show the next version of this answer"),
    ("continue", "Continue", "Continue this answer from where it stopped"),
    ("answer", "Answer", "This message was never answered: answer it now"),
    ("regenerate", "Regenerate", "Answer again (the current answer is kept as a version)"),
    ("speak", "Read aloud", "Read this answer aloud"),
    ("edit", "Edit", "Edit this message and ask again from here"),
    ("delete", "Delete", "Delete this message"),
)


class _FittedBrowser(QTextBrowser):
    """A read-only rich-text view exactly as tall as its text (the outer area scrolls)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.document().setDocumentMargin(2)
        # Queued: the document lays itself out lazily, sometimes while being painted, and a
        # resize from inside a paint is a recursive repaint (seen to crash under load).
        self.document().documentLayout().documentSizeChanged.connect(
            self._fit, Qt.ConnectionType.QueuedConnection
        )

    def loadResource(self, kind: int, name: QUrl | str) -> None:  # noqa: N802 (Qt API)
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
    """One message: who said it, its text, its stats, a Copy button and the message actions.

    Signals: copied(str) when text was put on the clipboard; action_requested(action) when
    one of `ACTIONS` was clicked.
    """

    copied = Signal(str)
    action_requested = Signal(str)

    def __init__(self, role: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = 0  # row in the history database, once known
        self._text = ""
        self._code_blocks: list[str] = []
        # While an answer streams, its settled blocks are rendered once and kept ("frozen");
        # only the rest is rendered again (see set_text).
        self._frozen = ""
        self._frozen_at = 0  # the document position where the frozen part ends
        self._frozen_blocks: list[str] = []
        self.partial = False  # shown through incremental renders, not yet rendered whole
        self.image_buttons: list[QToolButton] = []
        self._sources: SourcesRow | None = None  # the documents an answer was given, once any
        self.setObjectName("message")
        self.setProperty("role", role)  # styled by the view's one style sheet
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self._column = layout
        header = QHBoxLayout()
        self.title = QLabel(f"<b>{ROLE_TITLES[role]}</b>")
        self.stats_label = ElidedLabel()  # cut short with "…" in a narrow window
        faint(self.stats_label)
        buttons = FlowLayout()  # onto more rows in a narrow window, not cut off
        self.copy_button = QPushButton("Copy")
        self.copy_button.setFlat(True)
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.setToolTip("Copy this message")
        self.copy_button.clicked.connect(self.copy_text)
        set_button_icon(self.copy_button, "copy")
        top = Qt.AlignmentFlag.AlignTop  # by the first row when the buttons wrap
        header.addWidget(self.title, 0, top)
        header.addWidget(self.stats_label, 1, top)
        self.version_label = QLabel()
        faint(self.version_label)
        self.version_label.hide()
        self.buttons: dict[str, QPushButton] = {}
        for action, label, hint in ACTIONS:
            button = QPushButton(label)
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setToolTip(hint)
            button.hide()
            button.clicked.connect(lambda _=False, a=action: self.action_requested.emit(a))
            self.buttons[action] = button
            if action == "speak":
                set_button_icon(button, "speak")
            buttons.addWidget(button)
            if action == "older":
                buttons.addWidget(self.version_label)
        buttons.addWidget(self.copy_button)
        header.addLayout(buttons)
        row = self.copy_button.sizeHint().height()  # the title in line with the buttons
        self.title.setMinimumHeight(row)
        self.stats_label.setMinimumHeight(row)
        layout.addLayout(header)
        self.body = _FittedBrowser(self)
        self.body.setAccessibleName(SPOKEN_ROLES[role])
        self.body.anchorClicked.connect(self._on_anchor)
        layout.addWidget(self.body)
        if text:
            self.set_text(text)

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str, streaming: bool = False) -> None:
        """Show `text`. An answer still `streaming` is rendered incrementally: re-rendering
        all of it every 40 ms took the UI thread 30 ms per render at 7 kB, time the model's
        threads lost on 2 cores; the whole text is rendered again when it is complete."""
        self._text = text
        if self.role != "assistant":
            self.body.setHtml(render_plain(text))
            return
        if streaming:
            self._render_streaming(text)
            return
        rendered = render_markdown(text)
        self._code_blocks = rendered.code_blocks
        self.body.setHtml(rendered.html)
        self._frozen, self._frozen_at, self._frozen_blocks = "", 0, []
        self.partial = False

    def _render_streaming(self, text: str) -> None:
        if not text.startswith(self._frozen) or not self.partial:  # a new or rewritten answer
            self.body.setHtml("")
            self._frozen, self._frozen_at, self._frozen_blocks = "", 0, []
        self.partial = True
        settled = settled_end(text)
        if settled > len(self._frozen):  # blocks that will not change again: render them once
            part = render_markdown(text[len(self._frozen) : settled], len(self._frozen_blocks))
            self._frozen_at = self._replace_rest(part.html)
            self._frozen = text[:settled]
            self._frozen_blocks += part.code_blocks
        rest = render_markdown(text[len(self._frozen) :], len(self._frozen_blocks))
        self._replace_rest(rest.html)
        self._code_blocks = self._frozen_blocks + rest.code_blocks

    def _replace_rest(self, html: str) -> int:
        """Replace the document after the frozen part with `html`; where it now ends."""
        cursor = QTextCursor(self.body.document())
        cursor.setPosition(self._frozen_at)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        if self._frozen_at > 0 and html.strip():
            cursor.insertBlock()  # a paragraph of its own, not glued to the frozen one's end
        if html.strip():
            cursor.insertHtml(html)
        return cursor.position()

    def add_below(self, widget: QWidget) -> None:
        """Put a widget (a button on a notice) under the message's text."""
        self._column.addWidget(widget)

    def set_stats(self, text: str) -> None:
        self.stats_label.setText(text)
        self.stats_label.setToolTip(tip(text))

    def set_sources(self, sources: Sequence[CitedSource]) -> None:
        """The documents' passages the answer was given, under it; each opens its passage
        (`action_requested("source:ID")`)."""
        if self._sources is None:
            self._sources = SourcesRow(self)
            self._sources.linkActivated.connect(self.action_requested)
            self._column.addWidget(self._sources)
        self._sources.set_sources(sources)

    def sources_text(self) -> str:
        """The sources row as plain text ("" when there is none)."""
        return "" if self._sources is None else self._sources.plain_text()

    def set_images(self, images: tuple[Path, ...]) -> None:
        """Thumbnails of the pictures sent with this message; a click opens the full one."""
        from desktop_assistant.ui.image_tray import THUMB_SIDE, load_thumbnail

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for path in images:
            button = QToolButton(self)
            button.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
            button.setMinimumSize(THUMB_SIDE + 8, THUMB_SIDE + 8)
            button.setAutoRaise(True)
            button.setToolTip(tip(f"Open {path.name}"))
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(
                lambda _=False, p=path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p)))
            )
            load_thumbnail(path, button)
            row.addWidget(button)
            self.image_buttons.append(button)
        row.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertLayout(1, row)

    def set_actions(self, actions: set[str], version: int = 0, versions: int = 1) -> None:
        """Show these action buttons; `version` of `versions` when an answer has several."""
        if versions > 1:
            actions = actions | {"older", "newer"}
            self.version_label.setText(f"{version + 1}/{versions}")
            self.buttons["older"].setEnabled(version > 0)
            self.buttons["newer"].setEnabled(version < versions - 1)
        else:
            actions = actions - {"older", "newer"}
        self.version_label.setVisible(versions > 1)
        for action, button in self.buttons.items():
            button.setVisible(action in actions)

    @property
    def code_blocks(self) -> list[str]:
        return list(self._code_blocks)

    def copy_text(self) -> None:
        self._copy(self._text)

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)

    def _on_anchor(self, url: QUrl) -> None:
        """A click on a link in an answer: a code block's Copy, or an address, opened only
        once the user has seen it (the link's text may say anything)."""
        if url.scheme() == COPY_CODE_SCHEME:
            index = url.path()
            if index.isdigit() and int(index) < len(self._code_blocks):
                self._copy(self._code_blocks[int(index)])
        elif url.scheme() in ("http", "https", "mailto"):
            address = url.toDisplayString()
            if ask(self, "Open link", f"Open this address outside the app?\n\n{address}"):
                QDesktopServices.openUrl(url)


def _page_layout(page: QWidget) -> QVBoxLayout:
    """The column of a page of older messages (`ConversationView.add_older` gives it one)."""
    return cast(QVBoxLayout, page.layout())


def _widgets_in(layout: QLayout) -> list[QWidget]:
    items = (layout.itemAt(i) for i in range(layout.count()))
    return [w for w in (item.widget() for item in items if item is not None) if w is not None]


class ConversationView(QScrollArea):
    """All messages of the conversation, newest at the bottom.

    Follows the newest text while the user is at the bottom; leaves them alone when they
    have scrolled up to read. Messages drawn above keep what the user sees in place.

    Signals: near_top() when the user scrolls close to the oldest drawn message.
    """

    near_top = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAccessibleName("Conversation")  # a Tab stop: the arrow keys scroll it
        container = QWidget()
        container.setStyleSheet(VIEW_STYLE)
        self._layout = QVBoxLayout(container)
        self._layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        self._layout.setSpacing(10)
        self.examples = ExamplePrompts(container)  # shown while the conversation is empty
        self._layout.addWidget(self.examples)
        self._layout.addStretch(1)
        self.setWidget(container)
        self._container = container
        self._follow = True
        # While older messages are drawn above: the message the user looks at, and its offset
        # from the top of the viewport, to keep it in place.
        self._anchor: tuple[QWidget, int] | None = None
        self._adjusting = False
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        """In a wide window the messages keep a readable line length (`COLUMN_CHARS`),
        centred, as chat apps do, instead of lines as wide as the screen."""
        column = self.fontMetrics().averageCharWidth() * COLUMN_CHARS
        bar = self.verticalScrollBar()
        width = event.size().width() - (bar.sizeHint().width() if bar.isVisible() else 0)
        side = max(MARGIN, (width - column) // 2)
        if self._layout.contentsMargins().left() != side:  # before the contents are fitted
            self._layout.setContentsMargins(side, MARGIN, side, MARGIN)
        super().resizeEvent(event)

    def add_older(self, messages: list[tuple[str, str]]) -> list[MessageWidget]:
        """Draw older messages (oldest first) above the others, as one page.

        A page is laid out once: with every message straight in the column, each insert
        re-laid out all of them (a 500-message chat stalled the window for 90 ms a batch).
        What is on screen stays where it is.
        """
        if not self._follow and self._anchor is None:
            self._anchor = self._first_visible()
        page = QWidget()
        page.setObjectName("page")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(self._layout.spacing())
        widgets = [MessageWidget(role, text) for role, text in messages]
        for widget in widgets:
            layout.addWidget(widget)
        self._layout.insertWidget(0, page)
        return widgets

    def add_message(self, role: str, text: str = "", at_top: bool = False) -> MessageWidget:
        if at_top:
            return self.add_older([(role, text)])[0]
        widget = MessageWidget(role, text)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._follow = True
        QTimer.singleShot(0, self.scroll_to_bottom)
        return widget

    def remove_message(self, widget: MessageWidget) -> None:
        if self._anchor is not None and self._anchor[0] is widget:
            self._anchor = None
        parent = widget.parentWidget()
        if parent is not None and parent.objectName() == "page":
            page = _page_layout(parent)
            page.removeWidget(widget)
            if page.count() == 0:
                self._layout.removeWidget(parent)
                parent.deleteLater()
        else:
            self._layout.removeWidget(widget)
        widget.deleteLater()

    def clear(self) -> None:
        for widget in self.messages():
            self.remove_message(widget)
        self._follow = True
        self._anchor = None

    def scroll_to(self, widget: QWidget) -> None:
        self._follow = False
        QTimer.singleShot(0, lambda: self.ensureWidgetVisible(widget, 0, 40))

    def messages(self) -> list[MessageWidget]:
        found: list[MessageWidget] = []
        for item in _widgets_in(self._layout):
            if isinstance(item, MessageWidget):
                found.append(item)
            elif item.objectName() == "page":
                found += [
                    w for w in _widgets_in(_page_layout(item)) if isinstance(w, MessageWidget)
                ]
        return found

    def redraw_answers(self) -> None:
        """Render the drawn answers again (their code blocks follow the theme)."""
        for widget in self.messages():
            if widget.role == "assistant" and widget.text:
                widget.set_text(widget.text)

    def wants_older(self) -> bool:
        """Less than half a screen is drawn above what is shown: draw older messages.

        Checked after each batch too: a few short messages that do not fill the view give
        the user nothing to scroll, so scrolling alone would never ask for more."""
        self._layout.activate()  # the scroll range of what is drawn now
        return self.verticalScrollBar().value() < self.viewport().height() // 2

    def y_of(self, widget: QWidget) -> int:
        """Where a message is in the scrolled column (pages have their own coordinates)."""
        return widget.mapTo(self._container, QPoint(0, 0)).y()

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _first_visible(self) -> tuple[QWidget, int] | None:
        top = self.verticalScrollBar().value()
        for widget in self.messages():
            y = self.y_of(widget)
            if y + widget.height() >= top:
                return widget, y - top
        return None

    def _on_scrolled(self, value: int) -> None:
        if self._adjusting:
            return
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24
        self._anchor = None  # the user moved: keep whatever they look at now
        if value < self.viewport().height() // 2:
            self.near_top.emit()

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        bar = self.verticalScrollBar()
        self._adjusting = True
        try:
            if self._follow:
                bar.setValue(maximum)
            elif self._anchor is not None:
                widget, offset = self._anchor
                self._layout.activate()
                bar.setValue(self.y_of(widget) - offset)
        finally:
            self._adjusting = False
        if bar.value() < self.viewport().height() // 2:  # not yet a screenful above: more
            QTimer.singleShot(0, self.near_top.emit)
