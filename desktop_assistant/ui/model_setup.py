"""Getting models into the window: the first-run page when there is none, and the model
manager (File → Models…). Chosen chat or vision models load at once; a speech model is
loaded by the voice part."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QPushButton, QStackedWidget

from desktop_assistant.core.paths import same_folder
from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.composer import Composer

if TYPE_CHECKING:  # the session shows NO_MODEL_TEXT from here
    from desktop_assistant.ui.chat_session import ChatSession

log = logging.getLogger(__name__)

NO_MODEL_TEXT = (
    "No chat model is set up yet. Choose a local Hugging Face model folder "
    "(config.json, *.safetensors and tokenizer files) with File → Open model folder…, "
    "or start the app with `desktop-assistant --model PATH`."
)


class ModelSetup(QObject):
    """`pages`: the window's central pages; the first-run page is shown there over the
    conversation (page 0) while it is needed.
    """

    def __init__(
        self, settings: Settings, session: ChatSession, composer: Composer, pages: QStackedWidget
    ) -> None:
        super().__init__(pages)
        self.settings, self.session, self.composer = settings, session, composer
        self.status = session.status
        self.pages = pages
        self.page: Any = None  # the first-run page while it is shown
        worker = session.chat.worker
        worker.loading.connect(self.on_loading)
        worker.progress.connect(self.on_progress)
        worker.load_failed.connect(self.on_load_failed)

    def choose_folder(self) -> None:
        """File → Open model folder…: a Hugging Face folder the user already has."""
        from PySide6.QtWidgets import QFileDialog

        start = self.session.model_path or str(Path.home())
        path = QFileDialog.getExistingDirectory(self.pages.window(), "Choose a model folder", start)
        if path:
            self.session.load_model(path)

    def show_no_model(self) -> None:
        self.status.set_state("no-model")
        notice = self.session.note_until_loaded(NO_MODEL_TEXT)
        button = QPushButton("Open model folder…", notice)
        button.clicked.connect(self.choose_folder)
        notice.add_below(button)

    # ---- the chat thread loading a model ----------------------------------------------------

    def on_loading(self, name: str) -> None:
        self.status.set_model(name)
        self.status.set_state("loading")

    def on_progress(self, message: str) -> None:
        if self.status.state == "loading":
            self.status.say(message)

    def on_load_failed(self, message: str) -> None:
        self.status.set_state("no-model", message)  # the worker dropped any model it had
        waiting = (
            "\n\nYour message is kept: it will be answered once a model is loaded."
            if self.session.waiting
            else ""
        )
        self.session.show_problem(
            f"{message}\n\nChoose another folder with File → Open model folder….{waiting}"
        )
        self.composer.set_busy(False)

    def start_path(self) -> str:
        """The chat model to load at start: the setting, else the default installed one."""
        from desktop_assistant.models import registry

        try:
            installed = [m for m in registry.list_installed() if m.role in ("vision", "chat")]
        except Exception:  # a damaged manifest must not stop the app
            log.exception("reading the installed models failed")
            return ""
        installed.sort(key=lambda m: m.role != "vision")  # a vision model also chats
        return str(installed[0].path) if installed else ""

    def speech_path(self) -> str:
        """The speech model: the setting, else the first installed one."""
        from desktop_assistant.models import registry

        chosen = str(self.settings.get("stt_model_path"))
        if chosen:
            return chosen
        try:
            installed = registry.list_installed("speech")
        except Exception:
            log.exception("reading the installed models failed")
            return ""
        return str(installed[0].path) if installed else ""

    def show_first_run(self) -> bool:
        """With no model at all, open on the setup page; True when it is shown."""
        from desktop_assistant.models import registry
        from desktop_assistant.ui.first_run import FirstRunPage

        if not registry.needs_setup(self.settings):
            return False
        self.page = FirstRunPage(self.settings, self.pages)
        self.page.model_ready.connect(self.use)
        self.page.setup_finished.connect(self.close_first_run)
        self.pages.addWidget(self.page)
        self.pages.setCurrentWidget(self.page)
        return True

    def close_first_run(self) -> None:
        if self.page is None:
            return
        self.pages.removeWidget(self.page)
        self.page.deleteLater()
        self.page = None
        self.pages.setCurrentIndex(0)
        self.composer.edit.setFocus()

    def use(self, role: str, path: str) -> None:
        """A model was installed or chosen as its role's default."""
        if role in ("chat", "vision"):
            # Making it the default set the setting, and the window loads it from there;
            # a model chosen without changing the setting (the first-run page) loads here.
            if not same_folder(path, self.session.model_path) or self.status.state == "no-model":
                self.session.load_model(path)
        elif role == "speech":
            self.settings.set("stt_model_path", path)  # the window reloads the speech model

    def open_manager(self) -> None:
        from desktop_assistant.ui.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.settings, self.pages.window())
        dialog.default_changed.connect(self.use)
        dialog.exec()
