"""Builds the window's objects and wires them (`run_gui`, called by `cli.main` when no
command is given). Nothing here imports torch: the window comes first."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

    from desktop_assistant.ui.main_window import MainWindow


def no_display_reason(env: dict[str, str] | None = None, platform: str | None = None) -> str:
    """Why the window cannot open here ("" when it can, as far as can be told without
    opening it): Qt ends the process with a hint about xcb libraries when there is no display,
    which says nothing about what to do."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return ""
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return (
        "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window cannot "
        'open here. Without a screen, ask from the command line: desktop-assistant ask "..." '
        "(see --help); or run the window in a virtual display: xvfb-run desktop-assistant"
    )


def use_utf8_locale(env: MutableMapping[str, str] | None = None) -> str:
    """Make the locale Qt reads a UTF-8 one when it is not; returns the one set ("" if none
    was needed or none could be).

    Started with no locale (`env -i`, a bare systemd unit, the bundle: PyInstaller's Python
    does not coerce the C locale as `python` does), Qt printed four lines about switching to
    "C.UTF-8" at every start. The same switch is made here, quietly: LC_CTYPE only, so the
    user's language for dates and numbers is left as it was."""
    import locale

    env = os.environ if env is None else env
    with contextlib.suppress(locale.Error):  # a LANG naming a locale not installed
        locale.setlocale(locale.LC_CTYPE, "")
    if locale.nl_langinfo(locale.CODESET).upper().replace("-", "") == "UTF8":
        return ""
    for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8"):
        try:
            locale.setlocale(locale.LC_CTYPE, name)
        except locale.Error:
            continue
        if env.get("LC_ALL"):  # it outranks LC_CTYPE: keep its other categories
            for category in ("LC_COLLATE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME"):
                env.setdefault(category, env["LC_ALL"])
            del env["LC_ALL"]
        env["LC_CTYPE"] = name
        return name
    return ""


def run_gui(args: Any) -> int:
    from desktop_assistant.core.errors import UserError

    reason = no_display_reason()
    if reason:
        raise UserError(reason)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_assistant import APP_ID
    from desktop_assistant.core import paths
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.icons import app_icon
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.single_instance import SingleInstance
    from desktop_assistant.ui.workers.chat import ChatThread, engine_factory_for
    from desktop_assistant.ui.workers.history import HistoryThread
    from desktop_assistant.ui.workers.speech import (
        Microphone,
        SpeechThread,
        speech_factory_for,
        stream_factory_for,
    )

    _set_up_logging()
    use_utf8_locale()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Desktop Assistant")
    app.setDesktopFileName(APP_ID)  # packaging/<APP_ID>.desktop: the dock finds its icon
    app.setWindowIcon(app_icon())
    single = SingleInstance(paths.data_dir(), app)
    if not single.claim():  # before anything opens the history (see ui/single_instance.py)
        print(
            "Desktop Assistant is already running with this data folder; "
            "its window was brought to the front.",
            file=sys.stderr,
        )
        return 0
    settings = Settings()
    model_path = args.model or settings.get("model_path")
    chat = ChatThread(engine_factory_for(settings))
    history = HistoryThread(paths.history_file())
    speech = SpeechThread(speech_factory_for(settings))
    microphone = Microphone(stream_factory_for(settings), settings)
    window = MainWindow(settings, chat, model_path, history, voice=(speech, microphone))

    if args.quit_after_paint:
        window.first_painted.connect(lambda: _report_paint_and_quit(window))
    else:
        window.first_painted.connect(window.start)
        if window.voice is not None:
            window.first_painted.connect(window.voice.start)
    if args.send:
        QTimer.singleShot(0, lambda: window.send(args.send))
    if args.screenshot:
        window.reply_finished.connect(lambda _reply: _screenshot_and_quit(window, args.screenshot))
    single.activate_requested.connect(lambda: _bring_to_front(window))
    _report_blocked_connections(window)
    _report_bugs_in_the_window(window)
    _close_on_ctrl_c(window)
    window.show()
    code = app.exec()
    if window.isVisible():
        window.close()
    single.release()
    return code


def _bring_to_front(window: MainWindow) -> None:
    """Another start asked for the window: unminimise it and ask the window manager for
    focus (some refuse focus stealing and flash the task bar entry instead)."""
    from PySide6.QtCore import Qt

    if window.isMinimized():
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


def _set_up_logging() -> None:
    """Warnings to stderr; everything from INFO up to a rotating file in the data folder."""
    from logging.handlers import RotatingFileHandler

    from desktop_assistant.core import paths

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    try:
        path = paths.log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    except OSError as err:
        logging.getLogger(__name__).warning("no log file (%s)", err)
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def _report_blocked_connections(window: MainWindow) -> None:
    """A connection the offline guard refused (from any thread) is said in the status bar."""
    from PySide6.QtCore import QObject, Qt, Signal

    from desktop_assistant.core import offline

    class Bridge(QObject):
        blocked = Signal(str)

    bridge = Bridge(window)
    bridge.blocked.connect(
        lambda what: window.statusBar().showMessage(
            f"Blocked a connection to {what}: the app is offline", 10_000
        ),
        Qt.ConnectionType.QueuedConnection,
    )
    stop = offline.on_blocked(bridge.blocked.emit)
    window.destroyed.connect(lambda *_: stop())


def _report_bugs_in_the_window(window: MainWindow) -> None:
    """An exception escaping a slot is a bug: log it (with its traceback, in the rotating log
    in the data folder), say so in the window with the details to copy, keep running."""
    import traceback

    log = logging.getLogger("desktop_assistant")

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            window.close()
            return
        log.error("unexpected error", exc_info=(kind, error, tb))
        window.show_problem(f"Something went wrong inside the app: {kind.__name__}: {error}")
        details = "".join(traceback.format_exception(kind, error, tb))
        show_bug_details(window, f"{kind.__name__}: {error}", details)

    sys.excepthook = hook


def show_bug_details(window: MainWindow, summary: str, details: str) -> QMessageBox:
    """A dialog (one at a time, not modal) with the error's details and a Copy button, for a
    bug report. Returns it."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    from desktop_assistant.core import paths

    box = window.bug_dialog
    if box is not None and box.isVisible():
        box.setDetailedText(box.detailedText() + "\n" + details)  # one dialog for a burst
        return box
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Something went wrong")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(
        f"Something went wrong inside the app ({summary}). It goes on; nothing you had is lost."
    )
    box.setInformativeText(
        "If it happens again, please report it with the details below "
        f"(they are also in {paths.log_file()})."
    )
    box.setDetailedText(details)
    copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(box.detailedText()))
    box.addButton(QMessageBox.StandardButton.Close)
    box.setModal(False)
    box.show()
    window.bug_dialog = box
    return box


def _close_on_ctrl_c(window: MainWindow) -> None:
    """Ctrl+C in the terminal closes the window cleanly (Qt's loop hides signals otherwise)."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)  # lets Python run its signal handlers
    timer.start(250)


def _report_paint_and_quit(window: MainWindow) -> None:
    """For `bench startup`: say that the window is painted and whether torch was imported."""
    import json

    print(json.dumps({"painted": True, "torch_imported": "torch" in sys.modules}), flush=True)
    window.close()
    window.chat.shutdown()
    from PySide6.QtWidgets import QApplication

    QApplication.quit()


def _screenshot_and_quit(window: MainWindow, path: str) -> None:
    """Grab the whole screen (a real screenshot of the X display under Xvfb), then quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def grab() -> None:
        screen = window.screen()
        image = screen.grabWindow(0)
        if image.isNull() or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            image = window.grab()
        image.save(path)
        window.close()
        QApplication.quit()

    QTimer.singleShot(300, grab)
