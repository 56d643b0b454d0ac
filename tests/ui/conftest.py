from __future__ import annotations

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.main_window import MainWindow
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.history import HistoryThread
from tests.fakes import FakeChatEngine


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Build a window over a fake engine (or a given factory); checks the thread ends."""
    windows: list[MainWindow] = []

    def make(engine=None, model_path="/models/fake-model", factory=None, start=True, history=None):
        engine = engine if engine is not None else FakeChatEngine()
        chat = ChatThread(factory or (lambda path: engine))
        history_thread = HistoryThread(history) if history is not None else None
        window = MainWindow(Settings(tmp_path / "settings.json"), chat, model_path, history_thread)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if start:
            window.start()
        return window, engine

    yield make
    for window in windows:
        window.close()
        assert window.chat.qthread.isFinished()
        assert window.history is None or window.history.qthread.isFinished()
