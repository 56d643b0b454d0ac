"""File → Remote servers…: the OpenAI-compatible servers the user can chat through (issue 21).

A server has a name, an address, an API key (kept in the system keyring, shown only as
dots), a model (listed from the server by "List models", on a worker thread: the window
never waits for the network), a timeout and, optionally, a speech model. "Use for chats" makes
it the chat model; the conversation in the window goes on with it, and back with the local
model the same way. "Use for speech" sends what the user says to its speech model instead of
local Whisper (the default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core import remotes
from desktop_assistant.core.errors import UserError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.plain import faint, plain_label

log = logging.getLogger(__name__)
EXAMPLES = (
    "vLLM: http://gpu-box:8000 · llama.cpp server: http://host:8080 · Ollama: http://host:11434"
)


class ListModels(QRunnable):
    """Asks a server for its models (`/v1/models`) on a pool thread.

    Signals: found(list of model names), failed(message)."""

    class Signals(QObject):
        found = Signal(list)
        failed = Signal(str)

    def __init__(self, remote: Remote, key: str) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the dialog keeps it until it reports
        self.remote, self.key = remote, key
        self.signals = ListModels.Signals()

    def run(self) -> None:
        from desktop_assistant.inference.remote import RemoteChatEngine

        engine = RemoteChatEngine(Remote(self.remote.name, self.remote.base_url, "",
                                         self.remote.timeout_s), self.key)  # fmt: skip
        try:
            engine.load()
        except UserError as err:
            self.signals.failed.emit(str(err))
            return
        except Exception as err:  # a bug must not end the pool thread silently
            log.exception("listing the models of %s", self.remote.base_url)
            self.signals.failed.emit(f"could not ask {self.remote.base_url}: {err}")
            return
        finally:
            engine.unload()
        self.signals.found.emit(list(engine.models))


class RemoteServersDialog(QDialog):
    """Signals: use_requested(path) when "Use for chats" was clicked ("remote:NAME");
    saved(path) when a server was saved (the window reconnects if it is the one in use)."""

    use_requested = Signal(str)
    saved = Signal(str)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Remote servers")
        self._editing = ""  # the name of the server shown in the form ("" for a new one)
        self._task: ListModels | None = None
        self.servers = QListWidget()
        self.servers.setAccessibleName("Remote servers")
        self.servers.currentItemChanged.connect(self._show_selected)
        self.name = QLineEdit()
        self.name.setAccessibleName("Name")
        self.name.setPlaceholderText("office GPU")
        self.address = QLineEdit()
        self.address.setAccessibleName("Address")
        self.address.setPlaceholderText("http://gpu-box:8000")
        self.address.setToolTip(EXAMPLES)
        self.key = QLineEdit()
        self.key.setAccessibleName("API key")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("none (kept in the system keyring when given)")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setAccessibleName("Model")
        line = self.model.lineEdit()
        if line is not None:
            line.setPlaceholderText("the server's first model")
        self.list_button = QPushButton("List models")
        self.list_button.clicked.connect(self.list_models)
        self.speech_model = QLineEdit()
        self.speech_model.setAccessibleName("Speech model")
        self.speech_model.setPlaceholderText("none: speech stays on this computer")
        self.speech_model.setToolTip(
            "A speech-to-text model the server has at /v1/audio/transcriptions (vLLM serves "
            "Whisper there), for 'Use for speech'. Local Whisper stays the default."
        )
        self.timeout = QDoubleSpinBox()
        self.timeout.setAccessibleName("Timeout")
        self.timeout.setRange(2, 600)
        self.timeout.setDecimals(0)  # "60 s", not "60.00 s"
        self.timeout.setSuffix(" s")
        self.timeout.setValue(remotes.DEFAULT_TIMEOUT_S)
        self.timeout.setToolTip("How long to wait for the server to connect or send more")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.list_button)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Address", self.address)
        form.addRow("API key", self.key)
        form.addRow("Model", model_row)
        form.addRow("Timeout", self.timeout)
        form.addRow("Speech model", self.speech_model)
        self.message = plain_label(QLabel(EXAMPLES))
        self.message.setWordWrap(True)
        faint(self.message)
        self.new_button = QPushButton("New")
        self.new_button.clicked.connect(self.new_server)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        self.use_button = QPushButton("Use for chats")
        self.use_button.setToolTip("Answer with this server's model from now on")
        self.use_button.clicked.connect(self.use)
        self.speech_button = QPushButton("Use for speech")
        self.speech_button.setToolTip("Turn what you say into text on this server from now on")
        self.speech_button.clicked.connect(self.use_for_speech)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.remove_button, self.use_button,
                       self.speech_button):  # fmt: skip
            buttons.addWidget(button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.servers)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addWidget(close)
        self.resize(560, 460)
        self._fill()

    # ---- the list ------------------------------------------------------------------------

    def _fill(self, select: str = "") -> None:
        self.servers.clear()
        chosen = None
        for remote in remotes.list_remotes(self.settings):
            item = QListWidgetItem(f"{remote.name} — {remote.base_url}"
                                   + (f" · {remote.model}" if remote.model else ""))  # fmt: skip
            item.setData(Qt.ItemDataRole.UserRole, remote.name)
            self.servers.addItem(item)
            if remote.name == select:
                chosen = item
        if chosen is not None:
            self.servers.setCurrentItem(chosen)
        elif self.servers.count():
            self.servers.setCurrentRow(0)
        else:
            self.new_server()
        self._update_buttons()

    def _show_selected(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        remote = remotes.find_remote(self.settings, item.data(Qt.ItemDataRole.UserRole))
        self._editing = remote.name
        self.name.setText(remote.name)
        self.address.setText(remote.base_url)
        self.key.setText(remotes.get_api_key(remote.name))
        self.model.clear()
        self.model.setEditText(remote.model)
        self.timeout.setValue(remote.timeout_s)
        self.speech_model.setText(remote.speech_model)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self._editing))  # "Use" saves a new one first

    def new_server(self) -> None:
        self._editing = ""
        self.servers.clearSelection()
        for field in (self.name, self.address, self.key, self.speech_model):
            field.clear()
        self.model.clear()
        self.timeout.setValue(remotes.DEFAULT_TIMEOUT_S)
        self.name.setFocus()
        self._update_buttons()

    # ---- what the form says ------------------------------------------------------------

    def form_remote(self) -> Remote:
        """The server the form describes; `UserError` saying what is missing or wrong."""
        name = self.name.text().strip()
        if not name:
            raise UserError("give the server a name")
        if any(r.name == name for r in remotes.list_remotes(self.settings)) and (
            name != self._editing
        ):
            raise UserError(f"a server is already called {name!r}")
        return Remote(name, remotes.base_url(self.address.text()),
                      self.model.currentText().strip(), float(self.timeout.value()),
                      self.speech_model.text().strip())  # fmt: skip

    def say(self, text: str) -> None:
        self.message.setText(text)

    def save(self) -> bool:
        try:
            remote = self.form_remote()
            remotes.save_remote(self.settings, remote, self._editing)
            remotes.set_api_key(remote.name, self.key.text().strip())
        except UserError as err:
            self.say(f"Not saved: {err}.")
            return False
        self._fill(select=remote.name)
        self.saved.emit(remote.path)
        self.say(f"Saved {remote.name}." + (" Its key is in the system keyring."
                                              if self.key.text().strip() else ""))  # fmt: skip
        return True

    def remove(self) -> None:
        if not self._editing:
            return
        gone = self._editing
        remotes.delete_remote(self.settings, gone)
        self._editing = ""
        self._fill()
        self.say(f"Removed {gone}.")

    def use(self) -> None:
        if self.save():
            self.use_requested.emit(remotes.PREFIX + self._editing)
            self.say(f"Chats now use {self._editing}; the model is connecting.")

    def use_for_speech(self) -> None:
        """Speech to text on this server (its speech model) from now on."""
        if not self.speech_model.text().strip():
            self.say("Give the server's speech model first (vLLM: a Whisper model it serves).")
            return
        if self.save():
            self.settings.set("stt_model_path", remotes.PREFIX + self._editing)
            self.say(f"Speech now goes to {self._editing}; local Whisper is one click away in "
                     "File → Models….")  # fmt: skip

    def list_models(self) -> None:
        try:
            remote = Remote(self.name.text().strip() or "the server",
                            remotes.base_url(self.address.text()),
                            timeout_s=float(self.timeout.value()))  # fmt: skip
        except UserError as err:
            self.say(f"{err}.")
            return
        task = ListModels(remote, self.key.text().strip())
        task.signals.found.connect(self._on_models)
        task.signals.failed.connect(self._on_models_failed)
        self._task = task
        self.list_button.setEnabled(False)
        self.say(f"Asking {remote.base_url} for its models…")
        QThreadPool.globalInstance().start(task)

    def _on_models(self, names: list[str]) -> None:
        self.list_button.setEnabled(True)
        self._task = None
        typed = self.model.currentText().strip()
        self.model.clear()
        self.model.addItems(names)
        self.model.setEditText(typed if typed in names else names[0])
        self.say(f"The server has {len(names)} model{'s' if len(names) != 1 else ''}.")

    def _on_models_failed(self, message: str) -> None:
        self.list_button.setEnabled(True)
        self._task = None
        self.say(message[:1].upper() + message[1:] + ".")


def open_remote_servers(
    settings: Settings,
    parent: QWidget | None,
    use: Callable[[str], object],
    saved: Callable[[str], object],
) -> RemoteServersDialog:
    dialog = RemoteServersDialog(settings, parent)
    dialog.use_requested.connect(use)
    dialog.saved.connect(saved)
    dialog.show()
    return dialog
