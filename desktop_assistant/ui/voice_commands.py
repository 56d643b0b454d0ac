"""What each spoken command does in the window.

Every recognised command is shown for a few seconds in the status bar, with Undo where it can
be undone. Destructive ones (`core.commands.is_destructive`) and guessed ones ("Did you mean
…?", `core.commands.understand`) wait for "yes" / "confirm" (or a click on Yes) and are dropped
by "no" / "never mind" (or No) or after a while.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QPushButton

from desktop_assistant.core.commands import is_destructive
from desktop_assistant.ui.chat_session import ChatSession
from desktop_assistant.ui.conversations import Conversations
from desktop_assistant.ui.message_tools import MessageTools
from desktop_assistant.ui.read_aloud import ReadAloud

if TYPE_CHECKING:
    from desktop_assistant.core.commands import Command

SHOWN_MS = 6000  # how long a recognised command (and its Undo) stays in the status bar
CONFIRM_MS = 15_000  # a destructive command waits this long for "yes"
ZOOM_STEP = 1  # points per zoom_in / zoom_out
NAMES = {
    "new_chat": "New chat",
    "stop": "Stop",
    "send": "Send",
    "read_aloud": "Read aloud",
    "regenerate": "Regenerate",
    "delete_conversation": "Delete this conversation",
    "rename_conversation": "Rename",
    "previous_conversation": "Previous conversation",
    "next_conversation": "Next conversation",
    "search_chats": "Search",
    "attach_image": "Attach an image",
    "clear_images": "Clear images",
    "copy_last_answer": "Copy the last answer",
    "scroll_up": "Scroll up",
    "scroll_down": "Scroll down",
    "set_theme": "Theme",
    "zoom_in": "Zoom in",
    "zoom_out": "Zoom out",
    "open_settings": "Settings",
    "set_auto_read": "Read answers aloud",
    "confirm": "Yes",
    "cancel": "Never mind",
}


class VoiceCommands(QObject):
    """Carries out spoken commands on the open conversation (`session`), the saved ones
    (`conversations`, None without a history) and the window's view (`zoom`, `open_settings`).

    Signals: read_last_requested() for "read that again" (the voice part reads it).
    """

    read_last_requested = Signal()

    def __init__(
        self,
        session: ChatSession,
        tools: MessageTools,
        read_aloud: ReadAloud,
        conversations: Conversations | None,
        zoom: Callable[[int], object],
        open_settings: Callable[[], object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.tools, self.read_aloud = session, tools, read_aloud
        self.conversations = conversations
        self.status = session.status
        self._zoom, self._open_settings = zoom, open_settings
        self.pending: Command | None = None  # a command waiting for "yes"
        self._expire = QTimer(self)
        self._expire.setSingleShot(True)
        self._expire.timeout.connect(self._drop_pending)
        self.yes_button = QPushButton("Yes")
        self.yes_button.hide()
        self.yes_button.clicked.connect(self._confirm)
        self.no_button = QPushButton("No")
        self.no_button.hide()
        self.no_button.clicked.connect(self._decline)
        self.undo_button = QPushButton("Undo")
        self.undo_button.hide()
        self.undo_button.clicked.connect(self._undo)
        self._undo_action: Callable[[], object] | None = None
        self._hide = QTimer(self)
        self._hide.setSingleShot(True)
        self._hide.timeout.connect(self.undo_button.hide)
        for button in (self.yes_button, self.no_button, self.undo_button):
            self.status.add_button(button)

    def takes(self, command: Command) -> bool:
        """Whether a heard command is one here: "yes" and "no" only answer a question the app
        asked (or, for "no", stop what is running); otherwise they are words for the
        assistant ("yes" to "shall I go on?")."""
        if command.intent == "confirm":
            return self.pending is not None
        if command.intent == "cancel":
            busy = self.session.composer.busy or self.read_aloud.speaking
            return self.pending is not None or busy
        return True

    def run(self, command: Command) -> None:
        intent = command.intent
        if intent == "confirm":
            self._confirm()
            return
        if intent == "cancel":
            if self.pending is not None:
                self._decline()
            else:
                self.session.stop()
                self._show("Cancelled")
            return
        if is_destructive(intent):
            self._wait_for_yes(command, f"{NAMES[intent]}? Say “yes” to confirm or “no” to keep it")
            return
        self._carry_out(command)

    def ask(self, command: Command) -> None:
        """A guessed command: "Did you mean …?", carried out on "yes"."""
        if command.intent in ("confirm", "cancel"):
            self.run(command)
            return
        self._wait_for_yes(command, f"Did you mean “{_label(command)}”? Say “yes” or “no”")

    def _wait_for_yes(self, command: Command, question: str) -> None:
        self.pending = command
        self._expire.start(CONFIRM_MS)
        self._show(question, CONFIRM_MS)
        self.yes_button.show()
        self.no_button.show()

    def _carry_out(self, command: Command) -> None:
        undo = self._do(command)
        self._show(f"Voice command: {_label(command)}", undo=undo)

    # ---- the commands ------------------------------------------------------------------------

    def _do(self, command: Command) -> Callable[[], object] | None:  # noqa: C901 (a dispatch)
        """Carry out a command; returns how to undo it, when it can be undone."""
        session, saved, slots = self.session, self.conversations, command.slots
        composer, settings = session.composer, session.settings
        intent = command.intent
        if intent == "new_chat":
            before = session.conversation_id
            saved.new_chat() if saved is not None else session.new_chat()
            if before and saved is not None:
                return lambda: saved.open(before)
        elif intent == "stop":
            session.stop()
            self.read_aloud.stop()
        elif intent == "send":
            composer.button.click() if not composer.busy else None
        elif intent == "read_aloud":
            self.read_last_requested.emit()
        elif intent == "regenerate":
            last = session.message_list.last_answer()
            if last is not None:
                self.tools.on_action(last, "regenerate")
        elif intent == "rename_conversation" and saved is not None and session.conversation_id:
            saved.history.rename_requested.emit(session.conversation_id, str(slots.get("name", "")))
        elif intent in ("previous_conversation", "next_conversation") and saved is not None:
            self._step_conversation(saved, -1 if intent == "previous_conversation" else 1)
        elif intent == "search_chats" and saved is not None:
            saved.sidebar.search_box.setText(str(slots.get("query", "")))
        elif intent == "attach_image":
            QTimer.singleShot(0, composer.pick_files)
        elif intent == "clear_images":
            tray = composer.tray
            kept = [i.path for i in tray.images()]
            tray.clear()
            return (lambda: tray.add_files(kept)) if kept else None
        elif intent == "copy_last_answer":
            session.copy_last_answer()
        elif intent in ("scroll_up", "scroll_down"):
            bar = session.view.verticalScrollBar()
            step = bar.pageStep() if intent == "scroll_down" else -bar.pageStep()
            bar.setValue(bar.value() + step)
        elif intent == "set_theme":
            before = settings.get("theme")
            settings.set("theme", str(slots.get("theme", "light")))
            return lambda: settings.set("theme", before)
        elif intent in ("zoom_in", "zoom_out"):
            step = ZOOM_STEP if intent == "zoom_in" else -ZOOM_STEP
            self._zoom(step)
            return lambda: self._zoom(-step)
        elif intent == "open_settings":
            QTimer.singleShot(0, self._open_settings)
        elif intent == "set_auto_read":
            before = settings.get("auto_read")
            settings.set("auto_read", bool(slots.get("enabled", True)))
            return lambda: settings.set("auto_read", before)
        return None

    def _step_conversation(self, saved: Conversations, step: int) -> None:
        ids = saved.sidebar.model.conversation_ids()
        if not ids:
            return
        current = self.session.conversation_id
        # The list is newest first: "previous" is the older one, further down the list.
        index = ids.index(current) - step if current in ids else 0
        index = min(max(index, 0), len(ids) - 1)
        saved.open(ids[index])

    # ---- confirmation and undo -----------------------------------------------------------------

    def _confirm(self) -> None:
        command = self.pending
        self._drop_pending()
        if command is None:
            self._show("Nothing to confirm")
            return
        if command.intent != "delete_conversation":
            self._carry_out(command)
            return
        session = self.session
        if self.conversations is not None and session.conversation_id:
            self.conversations.delete(session.conversation_id)  # offers its own Undo
            self._show("Conversation deleted")
        else:
            session.new_chat()

    def _decline(self) -> None:
        command = self.pending
        self._drop_pending()
        if command is not None and is_destructive(command.intent):
            self._show("Never mind: nothing was deleted")
        else:
            self._show("Never mind")

    def _drop_pending(self) -> None:
        self.pending = None
        self._expire.stop()
        self.yes_button.hide()
        self.no_button.hide()

    def _show(
        self, text: str, ms: int = SHOWN_MS, undo: Callable[[], object] | None = None
    ) -> None:
        self.status.flash(text, ms)
        self._undo_action = undo
        self.undo_button.setVisible(undo is not None)
        if undo is not None:
            self._hide.start(ms)

    def _undo(self) -> None:
        action, self._undo_action = self._undo_action, None
        self.undo_button.hide()
        if action is not None:
            action()
            self.status.flash("Undone", 3000)


def _label(command: Command) -> str:
    label = NAMES.get(command.intent, command.intent)
    if command.slots:
        label += ": " + ", ".join(str(v) for v in command.slots.values())
    return label
