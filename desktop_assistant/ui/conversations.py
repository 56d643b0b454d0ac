"""Wires the sidebar and the history thread to the window: open, new, rename, delete with
undo, search, export and import."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QPushButton, QWidget

from desktop_assistant.core.conversation import Conversation
from desktop_assistant.storage.attachments import AttachmentStore
from desktop_assistant.storage.documents import StoredCollection
from desktop_assistant.storage.history import StoredMessage
from desktop_assistant.ui.chat_session import ChatSession
from desktop_assistant.ui.message_list import entry_from_stored
from desktop_assistant.ui.plain import ask
from desktop_assistant.ui.sidebar import Sidebar
from desktop_assistant.ui.workers.history import HistoryThread

UNDO_MS = 10_000


class Conversations(QObject):
    """The saved conversations of `history`, shown in `sidebar`; the one open is `session`'s.

    The window opens the history (`HistoryThread.open`) once everything listening to its
    worker is connected.
    """

    def __init__(self, session: ChatSession, history: HistoryThread, parent: QWidget) -> None:
        super().__init__(parent)
        self.session = session
        self.status = session.status
        self.history = history
        self._parent = parent  # file dialogs open over it
        self._pending_hit = 0  # message to scroll to once its conversation is shown
        self.sidebar = Sidebar(parent)
        self.undo_button = QPushButton("Undo")
        self.undo_button.hide()
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self._undo_over)
        self._deleted = 0
        worker = history.worker
        worker.opened.connect(self._on_opened)
        worker.failed.connect(self._on_failed)
        worker.conversations.connect(self.sidebar.set_conversations)
        worker.conversation_loaded.connect(self._on_loaded)
        worker.user_message_saved.connect(self._on_user_message_saved)
        worker.answer_saved.connect(session.answer_saved)
        worker.search_results.connect(self.sidebar.show_results)
        worker.exported.connect(self._on_exported)
        worker.imported.connect(self.open)
        worker.opened.connect(lambda _notice: history.collections_requested.emit())
        worker.collections_listed.connect(self._on_collections)
        self.collections: list[StoredCollection] = []  # as last listed
        tray = session.composer.documents
        tray.collection_added.connect(lambda _c: history.collections_requested.emit())
        self.sidebar.new_chat.connect(self.new_chat)
        self.sidebar.selected.connect(self.open)
        self.sidebar.rename.connect(history.rename_requested)
        self.sidebar.delete.connect(self.delete)
        self.sidebar.export.connect(self.export)
        self.sidebar.search.connect(self._search)
        self.sidebar.hit_selected.connect(self._open_hit)
        self.undo_button.clicked.connect(self.undo_delete)
        self.status.add_button(self.undo_button)

    def actions(self) -> list[tuple[str, QKeySequence | None, Callable[[], None]]]:
        """The File menu's entries for conversations: (text, shortcut, slot)."""
        return [
            ("&New chat", QKeySequence(QKeySequence.StandardKey.New), self.new_chat),
            ("&Search chats", QKeySequence("Ctrl+K"), self.sidebar.focus_search),
            ("&Import conversation…", None, self.import_file),
        ]

    def add_document_menu(self, menu: QMenu) -> None:
        """File menu entries for folders of documents: add one, use or delete a stored one."""
        menu.addAction("Add a &folder of documents…", self.pick_folder)
        collections = menu.addMenu("Document &collections")
        collections.aboutToShow.connect(lambda: self._fill_collections(collections))

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._parent, "Add a folder of documents (a collection)", str(Path.home())
        )
        if folder:
            self.session.composer.documents.add_folder(Path(folder))

    def _on_collections(self, collections: list[StoredCollection]) -> None:
        self.collections = list(collections)

    def _fill_collections(self, menu: QMenu) -> None:
        menu.clear()
        if not self.collections:
            menu.addAction("No collections yet: add a folder of documents").setEnabled(False)
            return
        tray = self.session.composer.documents
        for collection in self.collections:
            count = len(collection.document_ids)
            sub = menu.addMenu(f"{collection.name} ({count} document{'s' if count != 1 else ''})")
            sub.setToolTipsVisible(True)
            use = sub.addAction("&Use in this chat")
            use.setToolTip(collection.folder)
            use.triggered.connect(partial(_call, tray.use_collection, collection))
            remove = sub.addAction("&Delete…")
            remove.triggered.connect(partial(_call, self.delete_collection, collection))

    def delete_collection(self, collection: StoredCollection) -> None:
        question = (
            f"Delete the collection {collection.name}? Every chat that uses it loses it; its "
            "documents are forgotten unless a chat holds them itself. The files in "
            f"{collection.folder} are not touched."
        )
        if ask(self._parent, "Delete collection", question):
            self.session.composer.documents.forget_collection(collection.id)
            self.history.delete_collection.emit(collection.id)

    def new_chat(self) -> None:
        self.session.new_chat()
        self.sidebar.select(0)

    def open(self, conversation_id: int) -> None:
        if conversation_id != self.session.conversation_id:
            self.history.load_requested.emit(conversation_id)
        self.sidebar.select(conversation_id)

    def delete(self, conversation_id: int) -> None:
        if self._deleted:  # the earlier deletion's Undo ends here
            self.history.purge_requested.emit(self._deleted)
        self.history.delete_requested.emit(conversation_id)
        if conversation_id == self.session.conversation_id:
            self.new_chat()
        self._deleted = conversation_id
        self.status.flash("Conversation deleted", UNDO_MS)
        self.undo_button.show()
        self._undo_timer.start(UNDO_MS)

    def undo_delete(self) -> None:
        if self._deleted:
            self.history.undo_delete_requested.emit(self._deleted)
            self.open(self._deleted)
        self._hide_undo()

    def _undo_over(self) -> None:
        """The deleted conversation can no longer be brought back: remove it for good."""
        if self._deleted:
            self.history.purge_requested.emit(self._deleted)
        self._hide_undo()

    def _hide_undo(self) -> None:
        self._deleted = 0
        self.undo_button.hide()

    def export(self, conversation_id: int, kind: str) -> None:
        filters = {"md": "Markdown (*.md)", "json": "JSON (*.json)"}
        path, _ = QFileDialog.getSaveFileName(
            self._parent, "Export conversation", f"conversation.{kind}", filters[kind]
        )
        if path:
            self.history.export_requested.emit(conversation_id, path)

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Import conversation", "", "Conversation (*.json)"
        )
        if path:
            self.history.import_requested.emit(path)

    def _search(self, text: str) -> None:
        if text:
            self.history.search_requested.emit(text)

    def _open_hit(self, conversation_id: int, message_id: int) -> None:
        self._pending_hit = message_id
        if conversation_id == self.session.conversation_id:
            self._scroll_to_hit()
        else:
            self.open(conversation_id)

    def _scroll_to_hit(self) -> None:
        self.session.message_list.reveal(self._pending_hit, self.session.view.scroll_to)
        self._pending_hit = 0

    def _on_loaded(
        self, conversation_id: int, info: Conversation, messages: list[StoredMessage]
    ) -> None:
        self.show(conversation_id, info, messages)
        self.sidebar.select(conversation_id)
        if self._pending_hit:
            self._scroll_to_hit()

    def show(self, conversation_id: int, info: Conversation, stored: list[StoredMessage]) -> None:
        """Replace the view with a stored conversation (answers cut off by a crash included).

        Only the newest messages are drawn now; older ones as the user scrolls up.
        """
        store = AttachmentStore()
        # read first: a message that cannot be shown must not leave the window on this
        # conversation's id with the last one's messages (the next message went astray)
        entries = [entry_from_stored(m, store) for m in stored if m.role != "system"]
        self.session.show(conversation_id, info.system_prompt, entries)

    def _on_user_message_saved(
        self, token: int, conversation_id: int, message_id: int, copies: list[Path]
    ) -> None:
        if conversation_id:
            self.sidebar.select(conversation_id)
        self.session.user_message_saved(token, conversation_id, message_id, copies)

    def _on_exported(self, path: str) -> None:
        self.status.flash(f"Saved {path}", 5000)

    def _on_opened(self, notice: str) -> None:
        if notice:
            self.session.view.add_message("notice", notice)

    def _on_failed(self, message: str) -> None:
        if message.startswith("Conversations will not be saved"):
            self.session.history_available = False
        self.session.show_problem(message)


def _call(function: Callable[[StoredCollection], object], collection: StoredCollection,
          *_signal_args: object) -> None:  # fmt: skip
    """`function(collection)`, whatever the signal adds (a menu action's `checked`)."""
    function(collection)
