"""What the buttons on a message do: edit and ask again, regenerate, continue, browse the
versions of an answer, delete, read aloud."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QMessageBox,
    QPlainTextEdit,
    QWidget,
)

from desktop_assistant.storage.history import StoredMessage
from desktop_assistant.ui.chat_session import ChatSession
from desktop_assistant.ui.message_list import Entry, MessageList, stored_stats_text
from desktop_assistant.ui.plain import view_dialog
from desktop_assistant.ui.workers.history import HistoryThread


class MessageTools(QObject):
    """Acts on `MessageList.action_requested` for the open conversation.

    Signals: speak_requested(text) for "read aloud" (connected when voice is set up).
    """

    speak_requested = Signal(str)

    def __init__(
        self,
        session: ChatSession,
        message_list: MessageList,
        history: HistoryThread | None,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session, self.message_list, self.history = session, message_list, history
        self._parent = parent  # dialogs open over it
        message_list.action_requested.connect(self.on_action)
        if history is not None:
            history.worker.passage_found.connect(self.show_passage)

    def on_action(self, entry: Entry, action: str) -> None:
        if action.startswith("source:"):
            number = action.partition(":")[2]
            if number.isdigit() and self.history is not None:
                self.history.passage_requested.emit(int(number))
            return
        if action == "speak":
            self.speak_requested.emit(entry.text)
            return
        if self.session.busy:
            return  # the buttons are hidden while busy; a click may still be queued
        if action == "edit":
            self.session.editing = entry
            self.session.composer.begin_edit(entry.text)
        elif action == "delete":
            self.delete_message(entry)
        elif action == "regenerate":
            self._answer_again(entry, keep_text=False)
        elif action == "continue":
            self._answer_again(entry, keep_text=True)
        elif action == "answer":
            self.session.answer_now()
        elif action in ("older", "newer") and entry.id and self.history is not None:
            step = -1 if action == "older" else 1
            self.history.select_version.emit(entry.id, entry.version + step)

    def show_passage(self, passage_id: int, hit: Any) -> None:
        """A source of an answer, clicked: the passage, as the model was given it."""
        if hit is None:
            self.session.status.flash("That passage is gone: its document was removed.", 6000)
            return
        text = QPlainTextEdit(hit.text)
        text.setReadOnly(True)
        text.setAccessibleName(f"Passage from {hit.document}, {hit.place}")
        title = f"{hit.document}, {hit.place}"
        dialog = view_dialog(self._parent, title, text, 560, 360)  # the chat stays usable
        dialog.setObjectName("passage")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def _answer_again(self, entry: Entry, keep_text: bool) -> None:
        if self.session.status.state != "ready":
            self.session.status.say("The model is not ready yet; try again once it is loaded")
            return
        self.session.stream_answer(into=entry, keep_text=keep_text)

    def delete_message(self, entry: Entry, confirm: bool = True) -> None:
        if confirm and not self.confirm_delete():
            return
        if self.session.editing is entry:
            self.session.stop()
        self.message_list.remove(entry)
        if entry.id and self.history is not None:
            self.history.delete_message_requested.emit(entry.id)

    def confirm_delete(self) -> bool:
        answer = QMessageBox.question(
            self._parent,
            "Delete message",
            "Delete this message from the conversation? This cannot be undone.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def on_message_changed(self, stored: StoredMessage) -> None:
        entry = self.message_list.by_id(stored.id)
        if entry is not None:
            stats = stored_stats_text(stored)
            self.message_list.update(
                entry,
                text=stored.content,
                state=stored.state,
                version=stored.version,
                versions=stored.versions,
                stats=stats,
            )
