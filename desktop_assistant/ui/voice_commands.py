"""What each spoken command does in the window.

Every recognised command is shown for a few seconds in the status bar, with Undo where it can
be undone. Destructive ones (`core.commands.is_destructive`) and guessed ones ("Did you mean
…?", `core.commands.understand`) wait for "yes" / "confirm" (or a click on Yes) and are dropped
by "no" / "never mind" (or No) or after a while.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton

from desktop_assistant.core.commands import is_destructive

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
    def __init__(self, window: Any, read_last: Callable[[], None]) -> None:
        super().__init__(window)
        self.window = window
        self._read_last = read_last
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
        self._undo_action: Callable[[], None] | None = None
        self._hide = QTimer(self)
        self._hide.setSingleShot(True)
        self._hide.timeout.connect(self.undo_button.hide)
        for button in (self.yes_button, self.no_button, self.undo_button):
            window.statusBar().addPermanentWidget(button)

    def takes(self, command: Command) -> bool:
        """Whether a heard command is one here: "yes" and "no" only answer a question the app
        asked (or, for "no", stop what is running); otherwise they are words for the
        assistant ("yes" to "shall I go on?")."""
        if command.intent == "confirm":
            return self.pending is not None
        if command.intent == "cancel":
            w = self.window
            return self.pending is not None or w.composer.busy or w.voice.read_aloud.speaking
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
                self.window.stop()
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

    def _do(self, command: Command) -> Callable[[], None] | None:  # noqa: C901 (a dispatch)
        """Carry out a command; returns how to undo it, when it can be undone."""
        w, slots = self.window, command.slots
        intent = command.intent
        if intent == "new_chat":
            before = w.conversation_id
            w.conversations.new_chat() if w.history is not None else w.new_chat()
            if before and w.history is not None:
                return lambda: w.conversations.open(before)
        elif intent == "stop":
            w.stop()
            w.voice.read_aloud.stop()
        elif intent == "send":
            w.composer.button.click() if not w.composer.busy else None
        elif intent == "read_aloud":
            self._read_last()
        elif intent == "regenerate":
            last = w.message_list.last_answer()
            if last is not None:
                w.tools.on_action(last, "regenerate")
        elif intent == "rename_conversation" and w.history is not None and w.conversation_id:
            w.history.rename_requested.emit(w.conversation_id, str(slots.get("name", "")))
        elif intent in ("previous_conversation", "next_conversation") and w.history is not None:
            self._step_conversation(-1 if intent == "previous_conversation" else 1)
        elif intent == "search_chats" and w.history is not None:
            w.conversations.sidebar.search_box.setText(str(slots.get("query", "")))
        elif intent == "attach_image":
            QTimer.singleShot(0, w.composer.pick_images)
        elif intent == "clear_images":
            tray = w.composer.tray
            kept = [i.path for i in tray.images()]
            tray.clear()
            return (lambda: tray.add_files(kept)) if kept else None
        elif intent == "copy_last_answer":
            last = w.message_list.last_answer()
            if last is not None:
                QGuiApplication.clipboard().setText(last.text)
        elif intent in ("scroll_up", "scroll_down"):
            bar = w.view.verticalScrollBar()
            step = bar.pageStep() if intent == "scroll_down" else -bar.pageStep()
            bar.setValue(bar.value() + step)
        elif intent == "set_theme":
            before = w.settings.get("theme")
            w.settings.set("theme", str(slots.get("theme", "light")))
            return lambda: w.settings.set("theme", before)
        elif intent in ("zoom_in", "zoom_out"):
            step = ZOOM_STEP if intent == "zoom_in" else -ZOOM_STEP
            w.zoom(step)
            return lambda: w.zoom(-step)
        elif intent == "open_settings":
            QTimer.singleShot(0, w.open_settings)
        elif intent == "set_auto_read":
            before = w.settings.get("auto_read")
            w.settings.set("auto_read", bool(slots.get("enabled", True)))
            return lambda: w.settings.set("auto_read", before)
        return None

    def _step_conversation(self, step: int) -> None:
        ids = self.window.conversations.sidebar.model.conversation_ids()
        if not ids:
            return
        current = self.window.conversation_id
        # The list is newest first: "previous" is the older one, further down the list.
        index = ids.index(current) - step if current in ids else 0
        index = min(max(index, 0), len(ids) - 1)
        self.window.conversations.open(ids[index])

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
        w = self.window
        if w.history is not None and w.conversation_id:
            w.conversations.delete(w.conversation_id)  # offers its own Undo
            self._show("Conversation deleted")
        else:
            w.new_chat()

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

    def _show(self, text: str, ms: int = SHOWN_MS, undo: Callable[[], None] | None = None) -> None:
        self.window.statusBar().showMessage(text, ms)
        self._undo_action = undo
        self.undo_button.setVisible(undo is not None)
        if undo is not None:
            self._hide.start(ms)

    def _undo(self) -> None:
        action, self._undo_action = self._undo_action, None
        self.undo_button.hide()
        if action is not None:
            action()
            self.window.statusBar().showMessage("Undone", 3000)


def _label(command: Command) -> str:
    label = NAMES.get(command.intent, command.intent)
    if command.slots:
        label += ": " + ", ".join(str(v) for v in command.slots.values())
    return label
