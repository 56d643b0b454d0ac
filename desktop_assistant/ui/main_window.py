"""The main window: conversation, composer and status bar, wired to the chat thread."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core.conversation import Message, MessageState
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.options import GenerationOptions, Reply
from desktop_assistant.ui.composer import Composer
from desktop_assistant.ui.conversation_view import ConversationView
from desktop_assistant.ui.conversations import Conversations
from desktop_assistant.ui.intake import Intake
from desktop_assistant.ui.menus import add_menus
from desktop_assistant.ui.message_list import Entry, MessageList
from desktop_assistant.ui.message_tools import MessageTools, format_stats
from desktop_assistant.ui.model_setup import NO_MODEL_TEXT, ModelSetup
from desktop_assistant.ui.plain import plain_label, tip
from desktop_assistant.ui.system_prompt import SystemPromptPicker
from desktop_assistant.ui.theme import apply_theme
from desktop_assistant.ui.voice_control import Voice
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.history import HistoryThread

log = logging.getLogger(__name__)

FLUSH_MS = 40  # coalesce streamed text into one repaint per this many milliseconds
SAVE_EVERY_S = 0.25  # a streaming answer reaches the database at least this often
NOT_ANSWERED = " (stopped: your message is kept, unanswered)"
STATE_TEXT = {
    "no-model": "no model",
    "loading": "Loading model…",
    "ready": "ready",
    "generating": "generating…",
}


def freeze_startup_objects() -> None:
    """Move every object alive now out of the garbage collector's reach.

    The modules, widgets and (once loaded) torch and transformers objects live as long as the
    app; without this each full collection walks them all on the UI thread. Measured with
    `bench history`: the longest stall while drawing a 500-message chat went from 37-43 ms to
    24-30 ms. Objects made later (messages, replies) are collected as usual.
    """
    gc.freeze()


class MainWindow(QMainWindow):
    """Signals: first_painted() once the window has been drawn; reply_finished(Reply)."""

    first_painted = Signal()
    reply_finished = Signal(object)

    def __init__(
        self,
        settings: Settings,
        chat: ChatThread,
        model_path: str = "",
        history: HistoryThread | None = None,
        voice: tuple[Any, Any] | None = None,
        tts_engine: str = "",
    ) -> None:
        """`voice`: a `SpeechThread` and a `Microphone` (no voice input without them)."""
        super().__init__()
        self.settings = settings
        self.chat = chat
        self.history = history
        self.conversation_id = 0  # 0: a new chat, saved with its first message
        self.model_path = model_path
        self.state = "no-model"
        self.system_prompt = ""
        self._painted = False
        self._request_id = 0
        self._active: int | None = None
        self._waiting = False  # a message is waiting for the model to be ready
        self._reply: Entry | None = None  # the answer being streamed
        self._reply_text = ""
        self._reply_prefix = ""  # text of a stopped answer being continued
        self.editing: Entry | None = None  # a question being edited in the composer
        self._high_detail = False  # the last message asked for images in high detail
        self._saving_entry: Entry | None = None
        self._streaming_entries: dict[int, Entry] = {}  # ended answers awaiting their row id
        self._saved_at = 0.0  # when the streaming answer was last written to the history
        self._saving: int | None = None  # request id of a user message being committed
        self._answer_saved = True  # ...and whether to answer it then (not after Stop)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._build()
        self.voice: Voice | None = None
        if voice is not None:
            self.voice = Voice(self, voice[0], voice[1], tts_engine)
            self.intake.transcribe_file = self.voice.transcribe_file
            self.message_list.voice = True
        apply_theme(settings.get("theme"))
        settings.on_change(self._on_setting_changed)
        if model_path:  # loading starts once the window is painted; say so from the start
            self.model_label.setText(Path(model_path).name or model_path)
            self.set_state("loading")
        worker = chat.worker
        worker.loading.connect(self.setup.on_loading)
        worker.loaded.connect(self._on_loaded)
        worker.progress.connect(self.setup.on_progress)
        worker.load_failed.connect(self.setup.on_load_failed)
        worker.chunk.connect(self._on_chunk)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    # ---- building -------------------------------------------------------------------------

    def _build(self) -> None:
        self.setWindowTitle("Desktop Assistant")
        self.resize(900, 700)
        self.view = ConversationView(self)
        self.tools = MessageTools(self)
        self.message_list = MessageList(self.view, self.tools.on_action)
        self.system_picker = SystemPromptPicker(self.settings, self)
        self.system_picker.changed.connect(self._on_system_prompt_changed)
        self.system_prompt = self.system_picker.default_text()
        self.system_picker.set_text(self.system_prompt)
        self.composer = Composer(self)
        self.setup = ModelSetup(self)
        chat_area = QWidget(self)
        layout = QVBoxLayout(chat_area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.system_picker)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.composer)
        if self.history is not None:
            self.message_list.saved = True
            self.conversations = Conversations(self, self.history)
            splitter = QSplitter(self)
            splitter.addWidget(self.conversations.sidebar)
            splitter.addWidget(chat_area)
            splitter.setStretchFactor(1, 1)
            splitter.setSizes([240, 760])
            self.setCentralWidget(splitter)
            self.resize(1100, 720)
        else:
            self.setCentralWidget(chat_area)
        self.model_label = plain_label(QLabel("no model"))
        self.state_label = plain_label(QLabel())
        self.stats_label = plain_label(QLabel())
        bar = self.statusBar()
        bar.addWidget(self.model_label)
        bar.addWidget(self.state_label)
        bar.addPermanentWidget(self.stats_label)
        self.intake = Intake(self, self.composer, self.chat, self.view, bar, self.model_label)
        self.intake.choose_model = self.setup.choose_folder
        self.setAcceptDrops(True)
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.escape)
        QShortcut(QKeySequence("Esc"), self, activated=self.escape)
        add_menus(self)
        self.set_state("no-model")
        self.composer.edit.setFocus()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.intake.drag_enter(event)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.intake.drag_leave()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.intake.drop(event)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)
            QTimer.singleShot(0, freeze_startup_objects)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.composer.edit.setFocus()

    # ---- model ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading the configured model, or explain how to get one."""
        self.model_path = self.model_path or self.setup.start_path()
        if self.model_path:
            self.load_model(self.model_path)
        else:
            self.setup.show_no_model()
            self.setup.show_first_run()

    def load_model(self, path: str) -> None:
        self.model_path = path
        self.model_label.setText(Path(path).name or path)
        self.set_state("loading")
        self.chat.load_requested.emit(path)

    def _on_loaded(self, name: str, precision: str) -> None:
        freeze_startup_objects()  # what loading the model imported and built stays
        self.model_label.setText(f"{name} · {precision}" if precision else name)
        self.set_state("ready")
        self.settings.set("model_path", str(Path(self.model_path).expanduser().resolve()))
        if self._waiting:
            self._waiting = False
            self.stream_answer()

    # ---- sending and streaming ------------------------------------------------------------

    @property
    def waiting(self) -> bool:
        """A sent message waits for a model to answer it."""
        return self._waiting

    @property
    def messages(self) -> list[Message]:
        """The conversation as the model reads it (without the system prompt)."""
        return self.message_list.prompt("")

    def send(self, text: str) -> None:
        """Show the user's message and answer it now, or as soon as the model is ready.

        Images waiting in the composer go with it; a text-only model refuses them before
        anything is sent (the message and images stay in the composer).
        """
        if self._active is not None or self._saving is not None:
            if text and not self.composer.text():  # never drop what the user typed
                self.composer.edit.setPlainText(text)
            return
        pending = self.composer.tray.images()
        if not text.strip() and not pending:
            return
        if pending and not self.intake.model_reads_images():
            self.composer.edit.setPlainText(text)
            return
        self._high_detail = self.composer.tray.high_detail.isChecked()
        self.composer.tray.clear()
        editing, self.editing = self.editing, None
        if editing is not None and editing in self.message_list.entries:
            self.message_list.remove_after(editing)
            self.message_list.update(editing, text=text)
            entry = editing
        else:
            images = tuple(p.path for p in pending)
            entry = self.message_list.append(Entry("user", text, images=images))
        if self.history is not None and self.conversations.available:
            self._request_id += 1
            self._saving = self._request_id
            self._saving_entry = entry
            self.composer.set_busy(True)
            if entry.id:
                self.history.edit_message.emit(self._saving, entry.id, text)
            else:
                files = [(p.path, p.name) for p in pending]
                self.history.save_user_message.emit(
                    self._saving, self.conversation_id, text, self.system_prompt, files
                )
            return  # answered once committed: see user_message_saved
        self._answer_when_ready()

    def user_message_saved(
        self, token: int, conversation_id: int, message_id: int = 0, copies: Sequence[Path] = ()
    ) -> None:
        """The user's message is in the database: now it may be answered. `copies`: its
        pictures in the store, which it reads from now on (the user's files may go)."""
        if token != self._saving:
            return
        self._saving = None
        answer, self._answer_saved = self._answer_saved, True
        if conversation_id:
            self.conversation_id = conversation_id
        entry, self._saving_entry = self._saving_entry, None
        if entry is not None and len(copies) == len(entry.images):
            entry.images = tuple(copies)
        if entry is not None and message_id:
            entry.id = message_id
            if entry.widget is not None:
                entry.widget.message_id = message_id
        if not message_id:
            self.message_list.saved = False  # the history failed: the tools work in memory
        self.message_list.refresh_actions()
        self.composer.set_busy(False)
        if answer:
            self._answer_when_ready()

    def answer_now(self) -> None:
        """The last message has no answer (stopped while it waited, or from an earlier run):
        answer it now, or when the model is ready."""
        if self._active is None and self._saving is None and self.message_list.entries:
            self._answer_when_ready()

    def _answer_when_ready(self) -> None:
        if self.state == "ready":
            self.stream_answer()
        else:
            self._waiting = True
            if self.state == "loading":
                self.composer.set_busy(True)
                self.state_label.setText(
                    "Loading model… your message will be answered when it is ready"
                )
            elif self.state == "no-model":
                self.view.add_message(
                    "notice",
                    "Your message will be answered once a model is loaded. " + NO_MODEL_TEXT,
                )

    def stream_answer(self, into: Entry | None = None, keep_text: bool = False) -> None:
        """Stream an answer: a new one, a new version of `into`, or more of `into`."""
        self._request_id += 1
        self._active = self._request_id
        if into is None:
            into = self.message_list.append(Entry("assistant", ""))
            upto = into
        else:
            upto = into if keep_text else self._before(into)
            if not keep_text:
                self.message_list.update(into, text="", versions=into.versions + 1)
                into.version = into.versions - 1
            if into.id and self.history is not None:
                self.history.resume_answer.emit(self._active, into.id, not keep_text)
        self._reply = into
        self._reply_prefix = into.text if keep_text else ""
        self._reply_text = self._reply_prefix
        self._saved_at = 0.0
        messages = self.message_list.prompt(self.system_prompt, upto=upto)
        reading = any(m.images for m in messages) and self.intake.model_reads_images(quiet=True)
        first_status = "Reading image…" if reading else "thinking…"
        self.message_list.update(into, state=MessageState.STREAMING, stats=first_status)
        self.message_list.set_busy(True)
        self.composer.set_busy(True)
        self.set_state("generating")
        options = replace(
            GenerationOptions.from_settings(self.settings), high_detail=self._high_detail
        )
        self.chat.generate_requested.emit(self._active, messages, options)

    def _before(self, entry: Entry) -> Entry | None:
        index = self.message_list.entries.index(entry)
        return self.message_list.entries[index - 1] if index else None

    def _on_chunk(self, request_id: int, text: str) -> None:
        if request_id != self._active:
            return  # a stale chunk from a stopped request
        self._reply_text += text
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
        self._flush_timer.stop()
        reply = self._reply
        if reply is not None and reply.text != self._reply_text:
            self.message_list.update(reply, text=self._reply_text, stats="")
            now = time.monotonic()
            if self._active is not None and now - self._saved_at >= SAVE_EVERY_S:
                self._saved_at = now
                self._save_reply(MessageState.STREAMING)
            if self.voice is not None:
                self.voice.follow_answer(self._reply_text[len(self._reply_prefix) :], False)

    def _save_reply(self, state: str, stats: dict | None = None) -> None:
        """Write the streamed text to the history (the row is created at the first text)."""
        if self.history is None or not self.conversation_id or self._active is None:
            return
        model = self.model_label.text()
        if state == MessageState.STREAMING:
            self.history.stream_update.emit(
                self._active, self.conversation_id, self._reply_text, model
            )
        else:
            self.history.stream_finished.emit(
                self._active, self.conversation_id, self._reply_text, state, model, stats
            )

    def _on_answer_saved(self, token: int, message_id: int) -> None:
        entry = self._streaming_entries.pop(token, None)
        if entry is None and token == self._active:
            entry = self._reply
        if entry is not None:
            entry.id = message_id
            if entry.widget is not None:
                entry.widget.message_id = message_id
            self.message_list.refresh_actions()

    def _on_finished(self, request_id: int, reply: Reply) -> None:
        if request_id != self._active:
            return
        self._flush()
        if reply.stats.dropped_messages:
            left_out = reply.stats.dropped_messages
            self.view.add_message(
                "notice",
                f"The model could not read the whole conversation: the {left_out} oldest "
                "messages were left out of this answer (they are still saved here).",
            )
        state = MessageState.STOPPED if reply.stats.stopped else MessageState.COMPLETE
        if self.voice is not None:
            self.voice.follow_answer(self._reply_text[len(self._reply_prefix) :], True)
        self._save_reply(state, asdict(reply.stats))
        self._end_reply(state, format_stats(reply))
        self.stats_label.setText(format_stats(reply))
        self.reply_finished.emit(reply)

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._active:
            return
        self._flush()
        self._save_reply(MessageState.FAILED)
        self._end_reply("failed", "failed")
        self.show_problem(message)

    def _end_reply(self, state: str, stats: str) -> None:
        """Close the active reply, keeping whatever text it streamed."""
        entry, text = self._reply, self._reply_text
        if entry is not None and self._active is not None and not entry.id:
            self._streaming_entries[self._active] = entry  # its row id may still come
        self._active, self._reply, self._reply_text = None, None, ""
        if entry is not None:
            if text:
                self.message_list.update(entry, text=text, state=state, stats=stats)
            elif entry.versions > 1 or self._reply_prefix:
                self.message_list.update(entry, state=state, stats=stats)
            else:
                self.message_list.remove(entry)
        self.message_list.set_busy(False)
        self.composer.set_busy(False)
        self.set_state("ready")

    def escape(self) -> None:
        """Esc: cancel a recording, else stop reading aloud and the answer."""
        if self.voice is not None:
            if self.voice.cancel():
                return
            self.voice.read_aloud.stop()
        self.stop()

    def stop(self) -> None:
        """Stop: end the reply now; nothing streamed after this point is shown."""
        if self._active is not None:
            self.chat.worker.cancel(self._active)
            self._flush()
            self._save_reply(MessageState.STOPPED)
            self._end_reply(MessageState.STOPPED, "stopped")
            self.stats_label.setText("stopped")
        elif self._saving is not None:
            # The message is being written: let that finish (so the chat keeps its id and the
            # next message goes into it, not into a new chat), then leave it unanswered.
            self._answer_saved = False
            self.state_label.setText(STATE_TEXT[self.state] + NOT_ANSWERED)
        elif self._waiting:
            self._waiting = False
            self.composer.set_busy(False)
            self.state_label.setText(STATE_TEXT[self.state] + NOT_ANSWERED)
        elif self.editing is not None:
            self.editing = None
            self.composer.end_edit()

    # ---- conversations --------------------------------------------------------------------

    def new_chat(self) -> None:
        self.stop()
        self.conversation_id = 0
        self.system_prompt = self.system_picker.default_text()
        self.system_picker.set_text(self.system_prompt)
        self.message_list.clear()
        self.composer.edit.setFocus()

    def _on_system_prompt_changed(self, text: str) -> None:
        """Applies from the next answer; a saved conversation keeps it."""
        self.system_prompt = text
        if self.conversation_id and self.history is not None:
            self.history.set_system_prompt.emit(self.conversation_id, text)

    # ---- status and lifecycle -------------------------------------------------------------

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        text = STATE_TEXT[state]
        self.state_label.setText(f"{text}: {detail}" if detail else text)
        self.state_label.setToolTip(tip(detail))

    def _on_setting_changed(self, name: str, value: Any) -> None:
        if name == "theme":
            apply_theme(value)
            self.view.redraw_answers()  # code blocks in the new colours

    def open_settings(self) -> None:
        """Generation options apply to the next answer; a new precision on the next load."""
        from desktop_assistant.ui.settings_dialog import SettingsDialog

        SettingsDialog(self.settings, self).exec()

    def show_problem(self, message: str) -> None:
        """Show an error in the conversation and the status bar. The model's state is left
        as it is: a failed import, save or answer must not stop the next message from being
        answered (it used to set an "error" state that only a model load left)."""
        self.view.add_message("error", message)
        self.state_label.setText(f"Problem: {message}")
        self.state_label.setToolTip(tip(message))

    def zoom(self, step: int) -> None:
        """Bigger or smaller text in the conversation and the prompt box."""
        for widget in (self.view, self.composer.edit):
            font = widget.font()
            font.setPointSize(max(6, min(40, font.pointSize() + step)))
            widget.setFont(font)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.stop()
        self.hide()
        if self.voice is not None:
            self.voice.shutdown()
        if not self.chat.shutdown():
            log.warning("the chat thread did not end in time")
        if self.history is not None and not self.history.shutdown():
            log.warning("the history thread did not end in time")
        event.accept()
