"""The open conversation's exchange with the model: send a message (saved first, when there is
a history), stream the answer into the message list, save it as it grows, stop it.

Every message is answered exactly once: now, once the model is ready, or (after Stop) when
the user asks. Nothing typed or streamed is lost: a busy session puts the text back in the
prompt box; a stopped or failed answer keeps what it had streamed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QGuiApplication

from desktop_assistant.core.conversation import Message, MessageState
from desktop_assistant.core.grounding import cited_sources
from desktop_assistant.core.remotes import remote_name
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.options import GenerationOptions, Reply
from desktop_assistant.ui.composer import Composer
from desktop_assistant.ui.conversation_view import ConversationView, MessageWidget
from desktop_assistant.ui.intake import Intake
from desktop_assistant.ui.message_list import Entry, MessageList, format_stats
from desktop_assistant.ui.model_setup import NO_MODEL_TEXT
from desktop_assistant.ui.status_line import StatusLine
from desktop_assistant.ui.system_prompt import SystemPromptPicker
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.history import HistoryThread

FLUSH_MS = 40  # coalesce streamed text into one repaint per this many milliseconds
SAVE_EVERY_S = 0.25  # a streaming answer reaches the database at least this often
NOT_ANSWERED = " (stopped: your message is kept, unanswered)"
REMOTE_NOTE = (
    "Answers come from a server on another computer: the messages of this chat (and its "
    "pictures) are sent to it. History, voice and commands stay on this computer."
)


class ChatSession(QObject):
    """Signals: reply_finished(Reply); answer_grew(text so far, done) while an answer streams
    (what read-aloud follows)."""

    reply_finished = Signal(object)
    answer_grew = Signal(str, bool)

    def __init__(
        self,
        settings: Settings,
        chat: ChatThread,
        history: HistoryThread | None,
        message_list: MessageList,
        composer: Composer,
        view: ConversationView,
        status: StatusLine,
        intake: Intake,
        system_picker: SystemPromptPicker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings, self.chat, self.history = settings, chat, history
        self.message_list, self.composer, self.view = message_list, composer, view
        self.status, self.intake, self.system_picker = status, intake, system_picker
        self.history_available = history is not None  # False once the database failed
        self.conversation_id = 0  # 0: a new chat, saved with its first message
        self.model_path = ""
        self.system_prompt = system_picker.default_text()
        system_picker.set_text(self.system_prompt)
        system_picker.changed.connect(self._on_system_prompt_changed)
        self.editing: Entry | None = None  # a question being edited in the composer
        self._request_id = 0
        self._active: int | None = None  # request id of the answer streaming now
        self._waiting = False  # a message is waiting for the model to be ready
        self._reply: Entry | None = None  # the answer being streamed
        self._reply_text = ""
        self._reply_prefix = ""  # text of a stopped answer being continued
        self._high_detail = False  # the last message asked for images in high detail
        self._saving_entry: Entry | None = None
        self._streaming_entries: dict[int, Entry] = {}  # ended answers awaiting their row id
        self._saved_at = 0.0  # when the streaming answer was last written to the history
        self._saving: int | None = None  # request id of a user message being committed
        self._answer_saved = True  # ...and whether to answer it then (not after Stop)
        self._model_notes: list[MessageWidget] = []  # "no model yet" notes, gone at a load
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        worker = chat.worker
        worker.loaded.connect(self._on_loaded)
        worker.chunk.connect(self._on_chunk)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.interrupted.connect(self._on_interrupted)
        worker.grounded.connect(self._on_grounded)
        self._sources: list = []  # the passages the streaming answer was given (Hit)
        documents = composer.documents
        documents.added.connect(self._on_document_added)
        documents.removed.connect(self._on_document_removed)
        documents.collection_added.connect(lambda c: self._use_collection(c.id, True))
        documents.collection_removed.connect(lambda i: self._use_collection(i, False))
        if history is not None:
            history.worker.documents_listed.connect(self._on_documents_listed)

    # ---- state ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """An answer is streaming or a message is being saved (message buttons wait)."""
        return self._active is not None or self._saving is not None

    @property
    def waiting(self) -> bool:
        """A sent message waits for a model to answer it."""
        return self._waiting

    @property
    def messages(self) -> list[Message]:
        """The conversation as the model reads it (without the system prompt)."""
        return self.message_list.prompt("")

    def note_until_loaded(self, text: str) -> MessageWidget:
        """A notice in the conversation about the missing model, removed once one loads."""
        widget = self.view.add_message("notice", text)
        self._model_notes.append(widget)
        return widget

    def copy_last_answer(self) -> bool:
        """Put the last answer on the clipboard; False when there is none."""
        last = self.message_list.last_answer()
        if last is None or not last.text:
            return False
        QGuiApplication.clipboard().setText(last.text)
        return True

    def show_problem(self, message: str) -> None:
        """Show an error in the conversation and the status bar. The model's state is left
        as it is: a failed import, save or answer must not stop the next message from being
        answered (it used to set an "error" state that only a model load left)."""
        self.view.add_message("error", message)
        self.status.problem(message)

    # ---- the model ------------------------------------------------------------------------

    def load_model(self, path: str) -> None:
        """Load (or reload) the chat model in `path`."""
        self.model_path = path
        self.status.set_model(remote_name(path) or Path(path).name or path)
        self.status.set_state("loading")
        self.chat.load_requested.emit(path)

    def _on_loaded(self, name: str, precision: str) -> None:
        notes, self._model_notes = self._model_notes, []
        for widget in notes:
            self.view.remove_message(widget)
        if precision == "remote":  # said plainly: the answers come from another computer
            self.status.set_model(f"{name} · remote server", REMOTE_NOTE)
        else:
            self.status.set_model(f"{name} · {precision}" if precision else name)
        self.status.set_state("ready")
        remote = remote_name(self.model_path) is not None
        path = self.model_path if remote else str(Path(self.model_path).expanduser().resolve())
        self.settings.set("model_path", path)
        if self._waiting:
            self._waiting = False
            self.stream_answer()

    # ---- sending --------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Show the user's message and answer it now, or as soon as the model is ready.

        Images waiting in the composer go with it; a text-only model refuses them before
        anything is sent (the message and images stay in the composer).
        """
        if self.busy:
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
        if self.history is not None and self.history_available:
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
            if self.history is not None and conversation_id != self.conversation_id:
                tray = self.composer.documents
                if tray.documents():
                    ids = [d.id for d in tray.documents()]
                    self.history.attach_documents.emit(conversation_id, ids)
                for collection in tray.collections():
                    self.history.use_collection.emit(conversation_id, collection.id, True)
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
        if not self.busy and self.message_list.entries:
            self._answer_when_ready()

    def _answer_when_ready(self) -> None:
        state = self.status.state
        if state == "ready":
            self.stream_answer()
        else:
            self._waiting = True
            if state == "loading":
                self.composer.set_busy(True)
                self.status.say("Loading model… your message will be answered when it is ready")
            elif state == "no-model":
                self.note_until_loaded(
                    "Your message will be answered once a model is loaded. " + NO_MODEL_TEXT
                )

    # ---- streaming ------------------------------------------------------------------------

    def stream_answer(self, into: Entry | None = None, keep_text: bool = False) -> None:
        """Stream an answer: a new one, a new version of `into`, or more of `into`."""
        self._request_id += 1
        self._active = self._request_id
        if into is None:
            into = self.message_list.append(Entry("assistant", ""))
            upto: Entry | None = into
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
        self.status.set_state("generating")
        options = replace(
            GenerationOptions.from_settings(self.settings),
            high_detail=self._high_detail,
            documents=self.composer.documents.document_ids(),
            given_passages=self.message_list.given_passages(upto),
        )
        self._sources = []
        if options.documents:
            self.message_list.update(into, stats="looking in the documents…")
        self.chat.generate_requested.emit(self._active, messages, options)

    def _on_grounded(self, request_id: int, question: str, numbered: list) -> None:
        """The question went to the model with these sources: keep it as sent, so that the
        next question's prompt starts as this one did (the KV cache is reused)."""
        if request_id != self._active or self._reply is None:
            return
        self._sources = list(numbered)
        asked = self._before(self._reply) if self._reply in self.message_list.entries else None
        if asked is not None and asked.role == "user":
            given = set(self.message_list.given_passages(asked))
            asked.sent_as = question
            asked.passages = tuple(h.passage_id for _, h in numbered if h.passage_id not in given)

    # ---- documents ------------------------------------------------------------------------

    def _on_document_added(self, document: Any) -> None:
        """A document read into the open chat: kept with it (a new chat: once saved)."""
        if self.conversation_id and self.history is not None:
            self.history.attach_documents.emit(self.conversation_id, [document.id])

    def _on_document_removed(self, document_id: int) -> None:
        if self.conversation_id and self.history is not None:
            self.history.detach_document.emit(self.conversation_id, document_id)

    def _use_collection(self, collection_id: int, used: bool) -> None:
        if self.conversation_id and self.history is not None:
            self.history.use_collection.emit(self.conversation_id, collection_id, used)

    def _on_documents_listed(
        self, conversation_id: int, documents: list, collections: list
    ) -> None:
        if conversation_id == self.conversation_id:
            self.composer.documents.show_documents(documents, collections)

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
            self.answer_grew.emit(self._reply_text[len(self._reply_prefix) :], False)

    def _save_reply(self, state: str, stats: dict | None = None) -> None:
        """Write the streamed text to the history (the row is created at the first text)."""
        if self.history is None or not self.conversation_id or self._active is None:
            return
        model = self.status.model_name
        if state == MessageState.STREAMING:
            self.history.stream_update.emit(
                self._active, self.conversation_id, self._reply_text, model
            )
        else:
            self.history.stream_finished.emit(
                self._active, self.conversation_id, self._reply_text, state, model, stats
            )

    def answer_saved(self, token: int, message_id: int) -> None:
        """The history gave the streamed answer (`token`: its request id) a row."""
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
        self.answer_grew.emit(self._reply_text[len(self._reply_prefix) :], True)
        saved = asdict(reply.stats)
        if self._sources and self._reply is not None:
            numbers = [n for n, _ in self._sources]
            hits = [h for _, h in self._sources]
            sources = cited_sources(self._reply_text, hits, numbers)
            saved["sources"] = [asdict(source) for source in sources]
            self.message_list.update(self._reply, sources=tuple(sources))
        self._save_reply(state, saved)
        self._end_reply(state, format_stats(reply.stats))
        self.status.set_stats(format_stats(reply.stats))
        self._announce(reply.text)
        self.reply_finished.emit(reply)

    def _announce(self, text: str) -> None:
        """Say a finished answer to a screen reader (politely: after what it is reading)."""
        if not text or not QAccessible.isActive():
            return
        event = QAccessibleAnnouncementEvent(self.view, f"Answer: {text}")
        event.setPoliteness(QAccessible.AnnouncementPoliteness.Polite)
        QAccessible.updateAccessibility(event)

    def _on_failed(self, request_id: int, message: str) -> None:
        self._end_with_problem(request_id, MessageState.FAILED, "failed", message)

    def _on_interrupted(self, request_id: int, message: str) -> None:
        """The answer was cut in the middle (a remote server went away): kept as it came."""
        self._end_with_problem(request_id, MessageState.INTERRUPTED, "cut off", message)

    def _end_with_problem(self, request_id: int, state: str, label: str, message: str) -> None:
        if request_id != self._active:
            return
        self._flush()
        self._save_reply(state)
        self._end_reply(state, label)
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
        self.status.set_state("ready")

    def stop(self) -> None:
        """Stop: end the reply now; nothing streamed after this point is shown."""
        if self._active is not None:
            self.chat.worker.cancel(self._active)
            self._flush()
            self._save_reply(MessageState.STOPPED)
            self._end_reply(MessageState.STOPPED, "stopped")
            self.status.set_stats("stopped")
        elif self._saving is not None:
            # The message is being written: let that finish (so the chat keeps its id and the
            # next message goes into it, not into a new chat), then leave it unanswered.
            self._answer_saved = False
            self.status.say_after_state(NOT_ANSWERED)
        elif self._waiting:
            self._waiting = False
            self.composer.set_busy(False)
            self.status.say_after_state(NOT_ANSWERED)
        elif self.editing is not None:
            self.editing = None
            self.composer.end_edit()

    # ---- conversations --------------------------------------------------------------------

    def new_chat(self) -> None:
        self.show(0, self.system_picker.default_text(), [])

    def show(self, conversation_id: int, system_prompt: str, entries: list[Entry]) -> None:
        """Replace the open conversation with a stored one."""
        self.stop()
        self.conversation_id = conversation_id
        self.system_prompt = system_prompt
        self.system_picker.set_text(system_prompt)
        self.composer.documents.clear()  # the conversation's own come with it (listed)
        self.message_list.show(entries)
        self.composer.edit.setFocus()

    def _on_system_prompt_changed(self, text: str) -> None:
        """Applies from the next answer; a saved conversation keeps it."""
        self.system_prompt = text
        if self.conversation_id and self.history is not None:
            self.history.set_system_prompt.emit(self.conversation_id, text)
