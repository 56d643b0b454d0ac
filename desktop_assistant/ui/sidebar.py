"""The conversation list beside the chat: newest first, grouped by date, with search."""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core.conversation import Conversation
from desktop_assistant.core.dates import date_group
from desktop_assistant.storage.history import HIGHLIGHT_END, HIGHLIGHT_START, SearchHit
from desktop_assistant.ui.plain import tip

ConversationIdRole = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


class ConversationListModel(QAbstractListModel):
    """Conversations newest first, with a header row before each date group."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[str | Conversation] = []

    def set_conversations(self, conversations: list[Conversation], now: float) -> None:
        self.beginResetModel()
        self._rows = []
        group = None
        for conversation in conversations:
            this = date_group(conversation.updated_at, now)
            if this != group:
                self._rows.append(this)
                group = this
            self._rows.append(conversation)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        header = isinstance(row, str)
        if role == Qt.ItemDataRole.DisplayRole:
            return row if isinstance(row, str) else (row.title or "New chat")
        if role == ConversationIdRole:
            return None if header else row.id  # type: ignore[union-attr]
        if role == Qt.ItemDataRole.FontRole and header:
            font = QFont()
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 0.85)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and not isinstance(row, str):
            return tip(row.title)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if index.isValid() and isinstance(self._rows[index.row()], str):
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def row_of(self, conversation_id: int) -> int:
        for i, row in enumerate(self._rows):
            if not isinstance(row, str) and row.id == conversation_id:
                return i
        return -1

    def conversation_ids(self) -> list[int]:
        return [row.id for row in self._rows if not isinstance(row, str)]


def snippet_html(snippet: str) -> str:
    escaped = html.escape(snippet)
    return escaped.replace(HIGHLIGHT_START, "<b>").replace(HIGHLIGHT_END, "</b>")


class Sidebar(QWidget):
    """Signals: new_chat(), selected(conversation_id), rename(id, title), delete(id),
    export(id, format), search(text), hit_selected(conversation_id, message_id)."""

    new_chat = Signal()
    selected = Signal(int)
    rename = Signal(int, str)
    delete = Signal(int)
    export = Signal(int, str)
    search = Signal(str)
    hit_selected = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(200)
        self.new_button = QPushButton("New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_chat)
        self.search_box = QLineEdit()
        self.search_box.setAccessibleName("Search chats")
        self.search_box.setPlaceholderText("Search chats (Ctrl+K)")
        self.search_box.setClearButtonEnabled(True)
        self.model = ConversationListModel(self)
        self.list = QListView()
        self.list.setAccessibleName("Conversations")
        self.list.setModel(self.model)
        self.list.setUniformItemSizes(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.clicked.connect(self._on_clicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.results = QListWidget()
        self.results.itemClicked.connect(self._on_hit)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.results)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.stack, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(lambda: self.search.emit(self.search_box.text().strip()))
        self.search_box.textChanged.connect(self._on_search_text)
        self.current_id = 0

    def set_conversations(self, conversations: list[Conversation]) -> None:
        self.model.set_conversations(conversations, time.time())
        self.select(self.current_id)

    def select(self, conversation_id: int) -> None:
        self.current_id = conversation_id
        row = self.model.row_of(conversation_id)
        if row >= 0:
            self.list.setCurrentIndex(self.model.index(row))
        else:
            self.list.clearSelection()

    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def show_results(self, text: str, hits: list[SearchHit]) -> None:
        if text != self.search_box.text().strip():
            return  # an older query's answer
        self.results.clear()
        if not hits:
            self.results.addItem(QListWidgetItem("No matches"))
            return
        for hit in hits:
            item = QListWidgetItem()
            item.setData(ConversationIdRole, (hit.conversation_id, hit.message_id))
            label = QLabel(
                f"<b>{html.escape(hit.title or 'New chat')}</b><br>{snippet_html(hit.snippet)}"
            )
            label.setWordWrap(True)
            label.setContentsMargins(4, 2, 4, 2)
            item.setSizeHint(label.sizeHint())
            self.results.addItem(item)
            self.results.setItemWidget(item, label)

    def _on_search_text(self, text: str) -> None:
        if text.strip():
            self.stack.setCurrentWidget(self.results)
            self._debounce.start()
        else:
            self._debounce.stop()
            self.stack.setCurrentWidget(self.list)

    def _on_clicked(self, index: QModelIndex) -> None:
        conversation_id = index.data(ConversationIdRole)
        if conversation_id:
            self.selected.emit(int(conversation_id))

    def _on_hit(self, item: QListWidgetItem) -> None:
        data = item.data(ConversationIdRole)
        if data:
            self.hit_selected.emit(int(data[0]), int(data[1]))

    def _context_menu(self, pos: Any) -> None:
        index = self.list.indexAt(pos)
        conversation_id = index.data(ConversationIdRole)
        if not conversation_id:
            return
        menu = QMenu(self)
        actions = {
            menu.addAction("Rename…"): "rename",
            menu.addAction("Export as Markdown…"): "md",
            menu.addAction("Export as JSON…"): "json",
            menu.addAction("Delete"): "delete",
        }
        chosen = menu.exec(self.list.viewport().mapToGlobal(pos))
        self.act(
            actions.get(chosen) if isinstance(chosen, QAction) else None,
            conversation_id,
            index.data(),
        )

    def act(self, what: str | None, conversation_id: int, title: str = "") -> None:
        if what == "rename":
            text, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=title)
            if ok and text.strip():
                self.rename.emit(conversation_id, text.strip())
        elif what in ("md", "json"):
            self.export.emit(conversation_id, what)
        elif what == "delete":
            self.delete.emit(conversation_id)
