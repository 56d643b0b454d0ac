"""The messages of the open conversation, and which of them are drawn.

A stored conversation can have hundreds of messages, and each drawn message costs a couple of
milliseconds of UI-thread time. The newest `SHOW_BATCH` are drawn when the conversation opens;
older ones a batch at a time as the user scrolls up (or all the way to a search hit), so the
window never stalls. The prompt is built from every entry, drawn or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_assistant.core.conversation import Message, MessageState, Role
from desktop_assistant.core.grounding import CitedSource
from desktop_assistant.inference.options import ReplyStats
from desktop_assistant.storage.attachments import AttachmentStore
from desktop_assistant.storage.history import StoredMessage
from desktop_assistant.ui.conversation_view import ConversationView, MessageWidget

log = logging.getLogger(__name__)

SHOW_BATCH = 5  # messages drawn per event-loop turn (~3 ms each)
STORED_STATE_TEXT: dict[str, str] = {
    MessageState.INTERRUPTED: "cut off before the end",  # the app closed, a server went away
    MessageState.STOPPED: "stopped",
    MessageState.FAILED: "failed",
    MessageState.STREAMING: "writing…",  # live; one found at start is made INTERRUPTED
}
UNFINISHED = tuple(s for s in MessageState if s.unfinished)


@dataclass(eq=False)
class Entry:
    """One user or assistant message of the open conversation."""

    role: str
    text: str
    id: int = 0  # row in the history database, once saved
    state: str = MessageState.COMPLETE
    version: int = 0  # which answer of a regenerated message is shown
    versions: int = 1
    images: tuple[Path, ...] = ()
    stats: str = ""
    sources: tuple[CitedSource, ...] = ()  # the documents' passages an answer was given
    # A question about documents as the model read it (with its sources), and the passages
    # first given with it; kept while the conversation is open, so that later questions
    # reuse the model's KV cache (storage.documents.grounded)
    sent_as: str = ""
    passages: tuple[int, ...] = ()
    widget: MessageWidget | None = field(default=None, repr=False)


def format_stats(s: ReplyStats) -> str:
    """An answer's figures, as shown beside it and in the status bar."""
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


def stored_stats_text(message: StoredMessage) -> str:
    """What a saved message shows beside its role: the figures saved with it, else what
    its state says (stopped, failed, cut off)."""
    stats = ReplyStats.from_saved(message.stats)
    if stats is not None:
        return format_stats(stats)
    return STORED_STATE_TEXT.get(message.state, "")


def entry_from_stored(message: StoredMessage, store: AttachmentStore | None = None) -> Entry:
    """A message read from the history, as the message list holds it."""
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
        stats=stored_stats_text(message),
        sources=CitedSource.from_saved((message.stats or {}).get("sources")),
    )


class MessageList(QObject):
    """The entries of the open conversation and their widgets in the view.

    Signals: action_requested(entry, action) when a message's action button is clicked.
    """

    action_requested = Signal(object, str)

    def __init__(self, view: ConversationView) -> None:
        super().__init__(view)
        self.view = view
        self.entries: list[Entry] = []
        self._drawn_from = 0  # entries[_drawn_from:] have widgets
        self._busy = False
        self.saved = False  # True when messages are stored: their tools wait for a row id
        self.can_speak = ""  # "" when answers can be read aloud, else why not (a tooltip)
        self.voice = False  # the window has voice features
        self._generation = 0  # bumps when another conversation is shown
        view.near_top.connect(self.draw_older)

    # ---- filling ----------------------------------------------------------------------------

    def show(self, entries: list[Entry]) -> None:
        """Replace everything with these entries; draw the newest ones now."""
        self.view.clear()
        self._generation += 1
        self.entries = list(entries)
        self._drawn_from = len(self.entries)
        self._draw_batch()
        self.refresh_actions()
        QTimer.singleShot(0, self._fill)

    def clear(self) -> None:
        self.show([])

    def append(self, entry: Entry) -> Entry:
        self.entries.append(entry)
        self._widget_for(entry, at_top=False)
        self.refresh_actions()
        return entry

    def draw_older(self) -> None:
        """Draw one more batch of older messages above the drawn ones."""
        if self._drawn_from > 0:
            before = self._drawn_from
            self._draw_batch()
            self.refresh_actions(self.entries[self._drawn_from : before])  # only the new ones
            QTimer.singleShot(0, self._fill)

    def _fill(self) -> None:
        if self._drawn_from > 0 and self.view.wants_older():
            self.draw_older()

    def reveal(self, message_id: int, then: Callable[[MessageWidget], None]) -> None:
        """Draw older batches (one per event-loop turn) until a message is drawn."""
        generation = self._generation

        def step() -> None:
            if generation != self._generation:
                return
            entry = self.by_id(message_id)
            if entry is None:
                return
            if entry.widget is not None:
                then(entry.widget)
                return
            self.draw_older()
            QTimer.singleShot(0, step)

        step()

    def _draw_batch(self) -> None:
        start = max(0, self._drawn_from - SHOW_BATCH)
        batch = self.entries[start : self._drawn_from]
        widgets = self.view.add_older([(e.role, e.text) for e in batch])
        for entry, widget in zip(batch, widgets, strict=True):
            self._attach(entry, widget)
        self._drawn_from = start

    def _widget_for(self, entry: Entry, at_top: bool) -> MessageWidget:
        return self._attach(entry, self.view.add_message(entry.role, entry.text, at_top=at_top))

    def _attach(self, entry: Entry, widget: MessageWidget) -> MessageWidget:
        widget.message_id = entry.id
        if entry.images:
            widget.set_images(entry.images)
        widget.set_stats(entry.stats or STORED_STATE_TEXT.get(entry.state, ""))
        if entry.sources:
            widget.set_sources(entry.sources)
        emit = self.action_requested.emit
        widget.action_requested.connect(lambda action, e=entry: emit(e, action))
        entry.widget = widget
        return widget

    # ---- changing ---------------------------------------------------------------------------

    def remove(self, entry: Entry) -> None:
        index = self.entries.index(entry)
        del self.entries[index]
        if index < self._drawn_from:
            self._drawn_from -= 1
        if entry.widget is not None:
            self.view.remove_message(entry.widget)
            entry.widget = None
        self.refresh_actions()

    def remove_after(self, entry: Entry) -> None:
        """Editing a question asks it again from there: what followed goes."""
        for later in self.entries[self.entries.index(entry) + 1 :]:
            self.remove(later)

    def update(self, entry: Entry, **changes: Any) -> None:
        """Change an entry and redraw its widget."""
        for name, value in changes.items():
            setattr(entry, name, value)
        if "text" in changes and entry.role == "user":
            entry.sent_as, entry.passages = "", ()  # asked anew: grounded anew
        if entry.widget is not None:
            streaming = entry.state == MessageState.STREAMING
            if "text" in changes and entry.widget.text != entry.text:
                entry.widget.set_text(entry.text, streaming=streaming)
            elif not streaming and entry.widget.partial:  # the answer ended: render it whole
                entry.widget.set_text(entry.text)
            if "stats" in changes or "state" in changes:
                entry.widget.set_stats(entry.stats or STORED_STATE_TEXT.get(entry.state, ""))
            if "sources" in changes:
                entry.widget.set_sources(entry.sources)
        self.refresh_actions()

    def by_id(self, message_id: int) -> Entry | None:
        return next((e for e in self.entries if e.id == message_id and message_id), None)

    def last_answer(self) -> Entry | None:
        if self.entries and self.entries[-1].role == "assistant":
            return self.entries[-1]
        return None

    def set_busy(self, busy: bool) -> None:
        """While an answer streams, messages cannot be edited, regenerated or deleted."""
        self._busy = busy
        self.refresh_actions()

    def refresh_actions(self, entries: list[Entry] | None = None) -> None:
        """Show the tools each drawn message offers now (all drawn ones, or `entries`)."""
        self.view.examples.setVisible(not self.entries)
        last = self.last_answer()
        for entry in self.entries[self._drawn_from :] if entries is None else entries:
            if entry.widget is None:
                continue
            actions: set[str] = set()
            if not self._busy and (entry.id or not self.saved):
                actions.add("delete")
                if entry.role == "user":
                    actions.add("edit")
                    if entry is self.entries[-1]:  # stopped before its answer, or never sent
                        actions.add("answer")
                elif entry is last:
                    actions.add("regenerate")
                    if entry.state in UNFINISHED and entry.text:
                        actions.add("continue")
            if self.voice and entry.role == "assistant" and entry.text:
                actions.add("speak")
            versions = entry.versions if not self._busy else 1
            entry.widget.set_actions(actions, entry.version, versions)
            speak = entry.widget.buttons["speak"]
            speak.setEnabled(not self.can_speak)
            speak.setToolTip(self.can_speak or "Read this answer aloud")

    # ---- the prompt -------------------------------------------------------------------------

    def _upto(self, upto: Entry | None) -> list[Entry]:
        chosen = []
        for entry in self.entries:
            if entry.role in ("user", "assistant") and (entry.text or entry.images):
                chosen.append(entry)
            if entry is upto:
                break
        return chosen

    def prompt(self, system_prompt: str, upto: Entry | None = None) -> list[Message]:
        """The conversation as the model reads it, up to and including `upto`: earlier
        questions about documents as they were sent (with their sources), the last as typed
        (the chat worker adds its sources)."""
        messages = [Message("system", system_prompt)] if system_prompt else []
        chosen = self._upto(upto)
        last = max((i for i, e in enumerate(chosen) if e.role == "user"), default=-1)
        for i, entry in enumerate(chosen):
            role: Role = "user" if entry.role == "user" else "assistant"
            text = entry.sent_as if entry.sent_as and i != last else entry.text
            messages.append(Message(role, text, entry.images))
        return messages

    def given_passages(self, upto: Entry | None = None) -> tuple[int, ...]:
        """The passages the earlier questions of `prompt(upto)` gave the model, in order."""
        chosen = self._upto(upto)
        last = max((i for i, e in enumerate(chosen) if e.role == "user"), default=-1)
        return tuple(p for e in chosen[:last] if e.sent_as for p in e.passages)
