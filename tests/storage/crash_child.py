"""Run the window's storage with a fake streaming engine until killed (see test_crash.py).

Prints `saved <text>` once a user message is committed and `flushed` whenever streamed text
is handed to the storage thread, so the parent can kill it at varied moments.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_assistant.core.settings import Settings  # noqa: E402
from desktop_assistant.ui import chat_session  # noqa: E402
from desktop_assistant.ui.main_window import MainWindow  # noqa: E402
from desktop_assistant.ui.workers.chat import ChatThread  # noqa: E402
from desktop_assistant.ui.workers.history import HistoryThread  # noqa: E402
from tests.fakes import FakeChatEngine  # noqa: E402

TOKENS = [f"t{i} " for i in range(40)]


def main() -> None:
    db = Path(sys.argv[1])
    app = QApplication([])
    chat_session.SAVE_EVERY_S = 0.02  # flush often, so kills land mid-answer
    engine = FakeChatEngine(tokens=TOKENS, delay_s=0.005)
    window = MainWindow(
        Settings(db.with_suffix(".json")), ChatThread(lambda p: engine), "/fake", HistoryThread(db)
    )
    counter = iter(range(1_000_000))

    def send_next(*_: object) -> None:
        window.send(f"trial {sys.argv[2]} question {next(counter)}")

    window.history.worker.user_message_saved.connect(
        lambda token, cid, mid, copies: print(f"saved {window.messages[-1].content}", flush=True)
    )
    window.history.stream_update.connect(lambda *a: print("flushed", flush=True))
    window.reply_finished.connect(send_next)  # emitted on the UI thread
    window.show()
    window.start()
    send_next()  # waits for the model, then each answer sends the next question
    app.exec()


if __name__ == "__main__":
    main()
