"""Builds the objects and wires them. Nothing here imports torch: the window comes first."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Console script and `python -m desktop_assistant` entry point."""
    from desktop_assistant import cli

    return cli.main(argv)


def run_gui(args: Any) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers import ChatThread, default_engine_factory

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Desktop Assistant")
    app.setDesktopFileName("desktop-assistant")
    settings = Settings()
    model_path = args.model or settings.get("model_path")
    chat = ChatThread(default_engine_factory)
    window = MainWindow(settings, chat, model_path)

    if args.quit_after_paint:
        window.first_painted.connect(lambda: _report_paint_and_quit(window))
    else:
        window.first_painted.connect(window.start)
    if args.send:
        QTimer.singleShot(0, lambda: window.send(args.send))
    if args.screenshot:
        window.reply_finished.connect(lambda _reply: _screenshot_and_quit(window, args.screenshot))
    window.show()
    code = app.exec()
    if window.isVisible():
        window.close()
    return code


def _report_paint_and_quit(window: Any) -> None:
    """For `bench startup`: say that the window is painted and whether torch was imported."""
    import json

    print(json.dumps({"painted": True, "torch_imported": "torch" in sys.modules}), flush=True)
    window.close()
    window.chat.shutdown()
    from PySide6.QtWidgets import QApplication

    QApplication.quit()


def _screenshot_and_quit(window: Any, path: str) -> None:
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
