"""Measure how responsive the real window stays while a real model streams an answer.

A heartbeat timer fires every 5 ms on the UI thread; the longest gap between beats while the
answer streams is the longest time the window could not react to input or repaint.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

HEARTBEAT_MS = 5


class Heartbeat:
    """A timer on the UI thread; the gaps between its beats are how long the thread was busy."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.gaps: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        self.gaps.append(self._clock.nsecsElapsed() / 1e6)
        self._clock.restart()

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def max_stall_ms(self) -> float | None:
        return round(max(g - HEARTBEAT_MS for g in self.gaps), 1) if self.gaps else None


def measure_streaming(model: str, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers.chat import ChatThread, engine_factory_for

    _app = QApplication.instance() or QApplication([])  # noqa: F841 (kept alive)
    settings = Settings()
    settings.set("max_new_tokens", max_new_tokens)
    settings.set("temperature", 0.0)
    settings.set("repetition_penalty", 1.0)  # as bench chat: the same answer, so the same speed
    window = MainWindow(settings, ChatThread(engine_factory_for(settings)), model)
    window.show()
    loop = QEventLoop()
    window.first_painted.connect(window.start)
    window.chat.worker.loaded.connect(loop.quit)
    window.chat.worker.load_failed.connect(loop.quit)
    loop.exec()
    if window.state != "ready":
        raise RuntimeError(f"model did not load: {window.state_label.text()}")

    heartbeat = Heartbeat()
    renders = 0
    render_s = 0.0
    replies: list[Any] = []

    def on_reply(reply: Any) -> None:
        replies.append(reply)
        loop.quit()

    window.reply_finished.connect(on_reply)
    started = time.perf_counter()
    heartbeat.start()
    window.send(prompt)
    widget = window.view.messages()[-1] if window.view.messages() else None
    original = widget.set_text if widget is not None else None
    if widget is not None and original is not None:

        def counting(text: str, streaming: bool = False) -> None:
            nonlocal renders, render_s
            renders += 1
            begun = time.perf_counter()
            original(text, streaming=streaming)
            render_s += time.perf_counter() - begun

        widget.set_text = counting  # type: ignore[method-assign]
    loop.exec()
    heartbeat.stop()
    elapsed = time.perf_counter() - started
    window.close()
    stats = replies[0].stats if replies else None
    over = [g - HEARTBEAT_MS for g in heartbeat.gaps]
    return {
        "platform": QGuiApplication.platformName(),
        "new_tokens": stats.new_tokens if stats else 0,
        "prompt_tokens": stats.prompt_tokens if stats else 0,
        "decode_tok_s": round(stats.decode_tok_s, 2) if stats else 0.0,
        "stream_s": round(elapsed, 2),
        "renders": renders,
        "render_ms": round(render_s * 1000, 1),
        "ui_max_stall_ms": round(max(over), 1) if over else None,
        "ui_p99_stall_ms": round(statistics.quantiles(over, n=100)[98], 1)
        if len(over) > 2
        else None,
        "heartbeats": len(heartbeat.gaps),
    }


def measure_conversation_view(path: Any, conversation_id: int, expected: int) -> dict[str, Any]:
    """Open a stored conversation in the real window; time it and the UI thread's stalls."""
    from pathlib import Path

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers.chat import ChatThread
    from desktop_assistant.ui.workers.history import HistoryThread

    _app = QApplication.instance() or QApplication([])  # noqa: F841 (kept alive)
    settings = Settings(Path(path).with_suffix(".json"))
    window = MainWindow(settings, ChatThread(lambda p: None), "", HistoryThread(Path(path)))  # type: ignore[arg-type, return-value]
    window.show()
    loop = QEventLoop()

    def wait_until(condition: Any) -> None:
        poll = QTimer()
        poll.timeout.connect(lambda: loop.quit() if condition() else None)
        poll.start(10)
        loop.exec()
        poll.stop()

    conversations = window.conversations
    if conversations is None:
        raise RuntimeError("the window has no history")
    wait_until(lambda: conversations.sidebar.model.rowCount() > 0)
    heartbeat = Heartbeat()
    shown: list[float] = []
    started = time.perf_counter()
    heartbeat.start()
    conversations.open(conversation_id)
    wait_until(lambda: window.conversation_id == conversation_id and window.view.messages())
    shown.append(time.perf_counter())
    # The user scrolls to the top again and again until every message has been drawn.
    bar = window.view.verticalScrollBar()
    scroller = QTimer()
    scroller.timeout.connect(lambda: bar.setValue(0))
    scroller.start(20)
    wait_until(lambda: len(window.view.messages()) >= expected)
    scroller.stop()
    all_shown = time.perf_counter()
    heartbeat.stop()
    widgets = len(window.view.messages())
    window.close()
    return {
        "open_conversation_ms": round((shown[0] - started) * 1000, 1) if shown else None,
        "all_drawn_scrolling_up_ms": round((all_shown - started) * 1000, 1),
        "widgets": widgets,
        "ui_max_stall_ms": heartbeat.max_stall_ms(),
    }
