"""What the buttons on a message do: edit and ask again, regenerate, continue, browse the
versions of an answer, delete."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from desktop_assistant.inference.options import Reply
from desktop_assistant.storage.attachments import AttachmentStore
from desktop_assistant.ui.message_list import STORED_STATE_TEXT, Entry

log = logging.getLogger(__name__)


def entry_from_stored(message: Any, store: AttachmentStore | None = None) -> Entry:
    store = store or AttachmentStore()
    images = []
    for a in message.attachments:
        if a.kind != "image":
            continue
        try:
            images.append(store.path_for(a.sha256, a.suffix))
        except ValueError:  # a row no file can match (an import from before it was checked)
            log.warning("message %s: unusable attachment %r left out", message.id, a.name)
    return Entry(
        images=tuple(images),
        role=message.role,
        text=message.content,
        id=message.id,
        state=message.state,
        version=message.version,
        versions=message.versions,
    )


def format_stats(reply: Reply) -> str:
    s = reply.stats
    parts = [
        f"first token {s.ttft_s:.2f} s",
        f"{s.decode_tok_s:.1f} tok/s",
        f"{s.new_tokens} tokens",
    ]
    if s.precision:
        parts.append(s.precision)
    if s.dropped_messages:
        parts.append(f"{s.dropped_messages} oldest messages left out to fit")
    if s.stopped:
        parts.append("stopped")
    return " · ".join(parts)


class MessageTools(QObject):
    """Acts on `MessageWidget.action_requested` for the window's open conversation."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window

    def on_action(self, entry: Entry, action: str) -> None:
        if action == "speak" and self.window.voice is not None:
            self.window.voice.speak(entry.text)
            return
        if self.window._active is not None or self.window._saving is not None:
            return  # the buttons are hidden while busy; a click may still be queued
        if action == "edit":
            self.window.editing = entry
            self.window.composer.begin_edit(entry.text)
        elif action == "delete":
            self.delete_message(entry)
        elif action == "regenerate":
            self._answer_again(entry, keep_text=False)
        elif action == "continue":
            self._answer_again(entry, keep_text=True)
        elif action == "answer":
            self.window.answer_now()
        elif action in ("older", "newer") and entry.id and self.window.history is not None:
            step = -1 if action == "older" else 1
            self.window.history.select_version.emit(entry.id, entry.version + step)

    def _answer_again(self, entry: Entry, keep_text: bool) -> None:
        if self.window.state != "ready":
            self.window.state_label.setText(
                "The model is not ready yet; try again once it is loaded"
            )
            return
        self.window.stream_answer(into=entry, keep_text=keep_text)

    def delete_message(self, entry: Entry, confirm: bool = True) -> None:
        if confirm and not self.confirm_delete():
            return
        if self.window.editing is entry:
            self.window.stop()
        self.window.message_list.remove(entry)
        if entry.id and self.window.history is not None:
            self.window.history.delete_message_requested.emit(entry.id)

    def confirm_delete(self) -> bool:
        answer = QMessageBox.question(
            self.window,
            "Delete message",
            "Delete this message from the conversation? This cannot be undone.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def on_message_changed(self, stored: Any) -> None:
        entry = self.window.message_list.by_id(stored.id)
        if entry is not None:
            stats = STORED_STATE_TEXT.get(stored.state, "")
            self.window.message_list.update(
                entry,
                text=stored.content,
                state=stored.state,
                version=stored.version,
                versions=stored.versions,
                stats=stats,
            )
