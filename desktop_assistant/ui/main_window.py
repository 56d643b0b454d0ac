"""The main window: lays out the conversation, composer, sidebar and status bar, and builds
the parts that work on them, giving each only what it needs (never the window itself).

The threads (chat, history, speech) are made in `app.py` and passed in. What the window
still does itself: drag and drop, painting, Esc, zoom, the settings dialog and closing.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.paths import same_folder
from desktop_assistant.core.settings import (
    RELOADS_BOTH,
    RELOADS_CHAT,
    RELOADS_SPEECH,
    SCHEMA_BY_NAME,
    Settings,
)
from desktop_assistant.ui.chat_session import ChatSession
from desktop_assistant.ui.composer import Composer
from desktop_assistant.ui.conversation_view import ConversationView
from desktop_assistant.ui.conversations import Conversations
from desktop_assistant.ui.focus_order import chain, focus_leaves
from desktop_assistant.ui.icons import app_icon
from desktop_assistant.ui.intake import Intake
from desktop_assistant.ui.menus import WindowActions, add_menus
from desktop_assistant.ui.message_list import MessageList
from desktop_assistant.ui.message_tools import MessageTools
from desktop_assistant.ui.model_setup import ModelSetup
from desktop_assistant.ui.read_aloud import ReadAloud
from desktop_assistant.ui.status_line import StatusLine
from desktop_assistant.ui.system_prompt import SystemPromptPicker
from desktop_assistant.ui.theme import apply_theme
from desktop_assistant.ui.voice_commands import VoiceCommands
from desktop_assistant.ui.voice_control import NO_SPEECH_MODEL, Voice
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.history import HistoryThread
from desktop_assistant.ui.workers.speech import Microphone, SpeechThread

log = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """Move every object alive now out of the garbage collector's reach.

    The modules, widgets and (once loaded) torch and transformers objects live as long as the
    app; without this each full collection walks them all on the UI thread. Measured with
    `bench history`: the longest stall while drawing a 500-message chat went from 37-43 ms to
    24-30 ms. Objects made later (messages, replies) are collected as usual.
    """
    gc.freeze()


def _base64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


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
        voice: tuple[SpeechThread, Microphone] | None = None,
        tts_engine: str = "",
    ) -> None:
        """`voice`: a `SpeechThread` and a `Microphone` (no voice input without them)."""
        super().__init__()
        self.settings = settings
        self.chat = chat
        self.history = history
        self._painted = False
        self.bug_dialog: QMessageBox | None = None  # app.py's report of a bug, while open
        self.setWindowTitle("Desktop Assistant")
        self.setWindowIcon(app_icon())
        self.resize(900, 700)
        self.view = ConversationView(self)
        self.message_list = MessageList(self.view)
        self.system_picker = SystemPromptPicker(self.settings, self)
        self.composer = Composer(self)
        if history is not None:  # documents live in the history database (issue 22)
            self.composer.documents.database = history.worker.path
            chat.worker.database = history.worker.path
        self.status = StatusLine(self.statusBar())
        self.intake = Intake(self, self.composer, chat, self.view, self.status)
        self.session = ChatSession(
            settings,
            chat,
            history,
            self.message_list,
            self.composer,
            self.view,
            self.status,
            self.intake,
            self.system_picker,
            self,
        )
        self.session.reply_finished.connect(self.reply_finished)
        self.tools = MessageTools(self.session, self.message_list, history, self)
        self.pages = QStackedWidget(self)
        self.setup = ModelSetup(settings, self.session, self.composer, self.pages)
        self.intake.choose_model = self.setup.choose_folder
        self.conversations: Conversations | None = None
        if history is not None:
            self.message_list.saved = True
            self.conversations = Conversations(self.session, history, self)
            history.worker.message_changed.connect(self.tools.on_message_changed)
        self._lay_out()
        self.voice: Voice | None = None
        if voice is not None:
            self.voice = self._build_voice(voice[0], voice[1], tts_engine)
        if history is not None:
            history.open()  # only now: every answer of its worker has a listener
        mic = self.voice.toggle if self.voice is not None else None
        actions = WindowActions(
            self.open_settings, self.zoom, self.focus_composer, self.copy_last_answer, mic,
            self.show_sidebar if self.conversations is not None else None,
            bool(self.settings.get("sidebar_shown")),
            self.open_remote_servers,
        )  # fmt: skip
        add_menus(self, self.setup, self.conversations, actions)
        self.view.examples.chosen.connect(self._use_example)
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.escape)
        QShortcut(QKeySequence("Esc"), self).activated.connect(self.escape)
        self.setAcceptDrops(True)
        apply_theme(settings.get("theme"))
        settings.on_change(self._on_setting_changed)
        chat.worker.loaded.connect(lambda *_: freeze_startup_objects())  # it stays
        if model_path:  # loading starts once the window is painted; say so from the start
            self.session.model_path = model_path
            self.status.set_model(Path(model_path).name or model_path)
            self.status.set_state("loading")
        self.composer.edit.setFocus()

    def _lay_out(self) -> None:
        chat_area = QWidget(self)
        layout = QVBoxLayout(chat_area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.system_picker)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.composer)
        self.pages.addWidget(chat_area)  # page 0; the first-run page goes over it
        self.splitter: QSplitter | None = None
        if self.conversations is not None:
            splitter = QSplitter(self)
            splitter.addWidget(self.conversations.sidebar)
            splitter.addWidget(self.pages)
            splitter.setStretchFactor(1, 1)
            splitter.setSizes([240, 760])
            self.setCentralWidget(splitter)
            self.resize(1100, 720)
            self.splitter = splitter
        else:
            self.setCentralWidget(self.pages)
        self._restore_layout()

    def _restore_layout(self) -> None:
        """The size, place and sidebar width of the last quit (a bad value is ignored)."""
        geometry = self.settings.get("window_geometry")
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        if self.settings.get("zoom"):
            self.zoom(int(self.settings.get("zoom")), remember=False)
        state = self.settings.get("window_splitter")
        if state and self.splitter is not None:
            self.splitter.restoreState(QByteArray.fromBase64(state.encode("ascii")))
        if not self.settings.get("sidebar_shown"):
            self.show_sidebar(False)

    def show_sidebar(self, shown: bool) -> None:
        """Show or hide the list of chats (View → Chat list, Ctrl+B); kept for the next
        start. Hidden with the focus in it, the focus goes to the prompt box."""
        if self.conversations is None:
            return
        sidebar = self.conversations.sidebar
        focused = QApplication.focusWidget()
        if not shown and focused is not None and sidebar.isAncestorOf(focused):
            self.composer.edit.setFocus()
        sidebar.setVisible(shown)
        if self.settings.get("sidebar_shown") != shown:
            self.settings.set("sidebar_shown", shown)

    def _save_layout(self) -> None:
        self.settings.set("window_geometry", _base64(self.saveGeometry()))
        if self.splitter is not None:
            state = _base64(self.splitter.saveState())
            self.settings.set("window_splitter", state)

    def _build_voice(self, speech: SpeechThread, microphone: Microphone, tts: str) -> Voice:
        read_aloud = ReadAloud(tts, self)
        commands = VoiceCommands(
            self.session, self.tools, read_aloud, self.conversations, self.zoom,
            self.open_settings, self,
        )  # fmt: skip
        voice = Voice(
            self.settings,
            speech,
            microphone,
            read_aloud,
            commands,
            self.composer,
            self.message_list,
            self.status,
            self.intake.tell,
            self.setup.speech_path,
        )
        self.intake.transcribe_file = voice.transcribe_file
        self.message_list.voice = True
        self.session.answer_grew.connect(voice.follow_answer)
        self.tools.speak_requested.connect(voice.speak)
        return voice

    # ---- what tests, benchmarks and app.py use ------------------------------------------------

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def model_label(self) -> QLabel:
        return self.status.model_label

    @property
    def state_label(self) -> QLabel:
        return self.status.state_label

    @property
    def stats_label(self) -> QLabel:
        return self.status.stats_label

    @property
    def model_path(self) -> str:
        return self.session.model_path

    @property
    def conversation_id(self) -> int:
        return self.session.conversation_id

    @property
    def system_prompt(self) -> str:
        return self.session.system_prompt

    @property
    def waiting(self) -> bool:
        return self.session.waiting

    @property
    def messages(self) -> list[Message]:
        return self.session.messages

    def send(self, text: str) -> None:
        self.session.send(text)

    def stop(self) -> None:
        self.session.stop()

    def new_chat(self) -> None:
        self.session.new_chat()

    def load_model(self, path: str) -> None:
        self.session.load_model(path)

    def set_state(self, state: str, detail: str = "") -> None:
        self.status.set_state(state, detail)

    def show_problem(self, message: str) -> None:
        self.session.show_problem(message)

    # ---- the window's own ------------------------------------------------------------------

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.intake.drag_enter(event)

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.intake.drag_leave()

    def dropEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.intake.drop(event)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)
            QTimer.singleShot(0, freeze_startup_objects)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 (Qt API)
        """Tab and Shift+Tab: in the order things are shown (`ui.focus_order`), linked again
        at each press because messages come and go."""
        chain(focus_leaves(self.centralWidget()) + focus_leaves(self.statusBar()))
        return super().focusNextPrevChild(next)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.composer.edit.setFocus()

    def start(self) -> None:
        """Begin loading the configured model, or explain how to get one."""
        path = self.session.model_path or self.setup.start_path()
        if path:
            self.session.load_model(path)
        else:
            self.setup.show_no_model()
            self.setup.show_first_run()

    def escape(self) -> None:
        """Esc: cancel a recording, else stop reading aloud and the answer."""
        if self.voice is not None:
            if self.voice.cancel():
                return
            self.voice.read_aloud.stop()
        self.session.stop()

    def _on_setting_changed(self, name: str, value: Any) -> None:
        """Every setting takes effect at once (the dialog says how): the theme repaints, a
        new model folder, precision or thread count reloads the model, a new speech model or
        language reloads the speech model. The rest is read where it is used."""
        applies = SCHEMA_BY_NAME[name].applies
        if name == "theme":
            apply_theme(value)
            self.view.redraw_answers()  # code blocks in the new colours
        elif name == "model_path":
            if value and not same_folder(value, self.session.model_path):
                self.session.load_model(value)
        elif name == "remotes":  # a server removed from the list is off limits again
            from desktop_assistant.core.remotes import allow_remote_hosts

            allow_remote_hosts(self.settings)
        elif applies in (RELOADS_CHAT, RELOADS_BOTH) and self.session.model_path:
            self.session.load_model(self.session.model_path)
        if applies in (RELOADS_SPEECH, RELOADS_BOTH) and self.voice is not None:
            self.voice.start()

    def open_settings(self) -> None:
        """Generation options apply to the next answer; a new precision on the next load."""
        from desktop_assistant.ui.settings_dialog import SettingsDialog

        SettingsDialog(self.settings, self).exec()

    def open_remote_servers(self) -> QWidget:
        """File → Remote servers…: chat through a server on a bigger computer (issue 21)."""
        from desktop_assistant.ui.remote_servers import open_remote_servers

        def saved(path: str) -> None:  # the server in use changed: connect again
            if path == self.session.model_path:
                self.session.load_model(path)

        return open_remote_servers(
            self.settings, self, lambda path: self.setup.use("chat", path), saved
        )

    def _use_example(self, kind: str, text: str) -> None:
        """An example prompt of the empty conversation: into the prompt box, to send or
        change; a picture example opens the picker, a voice one the microphone."""
        if text:
            self.composer.edit.setPlainText(text)
        self.composer.edit.setFocus()
        if kind == "picture":
            QTimer.singleShot(0, self.composer.pick_files)
        elif kind == "voice":
            if self.voice is not None and self.voice.button.isEnabled():
                self.voice.listen()
            else:
                self.status.flash(NO_SPEECH_MODEL, 10_000)

    def focus_composer(self) -> None:
        self.composer.edit.setFocus()

    def copy_last_answer(self) -> None:
        if self.session.copy_last_answer():
            self.status.flash("The last answer is copied", 3000)

    def zoom(self, step: int, remember: bool = True) -> None:
        """Bigger or smaller text in the conversation and the prompt box (kept for the next
        start)."""
        for widget in (self.view, self.composer.edit):
            font = widget.font()
            font.setPointSize(max(6, min(40, font.pointSize() + step)))
            widget.setFont(font)
        if remember:
            level = max(-20, min(30, int(self.settings.get("zoom")) + step))
            self.settings.set("zoom", level)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self._save_layout()
        self.session.stop()
        self.hide()
        if self.voice is not None:
            self.voice.shutdown()
        if not self.chat.shutdown():
            log.warning("the chat thread did not end in time")
        if self.history is not None and not self.history.shutdown():
            log.warning("the history thread did not end in time")
        event.accept()
