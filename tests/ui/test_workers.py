"""Every Qt thread of the window is a WorkerThread (ui/workers/): named, its worker on it,
ended by shutdown; and no QThread is made anywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

import desktop_assistant
from desktop_assistant.ui.read_aloud import ReadAloud
from desktop_assistant.ui.workers import WorkerThread
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.history import HistoryThread
from desktop_assistant.ui.workers.speech import SpeechThread
from tests.fakes import FakeChatEngine, FakeSpeechEngine


class _Echo(QObject):
    said = Signal(str, object)

    @Slot(str)
    def say(self, text: str) -> None:
        self.said.emit(text, QThread.currentThread())


class _EchoThread(WorkerThread):
    asked = Signal(str)

    def __init__(self) -> None:
        super().__init__("echo", _Echo())
        self.quits: list[int] = []
        self.start([(self.asked, self.worker.say)])

    def before_quit(self) -> None:
        self.quits.append(1)


def test_a_worker_thread_runs_its_worker_on_its_own_named_thread(qtbot):
    owner = _EchoThread()
    with qtbot.waitSignal(owner.worker.said, timeout=5000) as said:
        owner.asked.emit("hello")
    assert said.args[0] == "hello" and said.args[1] is owner.qthread
    assert owner.qthread.objectName() == "echo" and owner.qthread is not QThread.currentThread()
    assert owner.shutdown() and owner.qthread.isFinished() and owner.quits == [1]


def test_the_window_threads_are_worker_threads(tmp_path):
    owners = [
        ChatThread(lambda path: FakeChatEngine()),
        SpeechThread(lambda path: FakeSpeechEngine()),
        HistoryThread(tmp_path / "history.sqlite3"),
    ]
    names = [o.qthread.objectName() for o in owners]
    assert names == ["chat-model", "speech-model", "history"]
    for owner in owners:
        assert isinstance(owner, WorkerThread) and owner.worker.thread() is owner.qthread
        assert owner.qthread.isRunning()
    assert all(owner.shutdown() for owner in owners)
    assert all(owner.qthread.isFinished() for owner in owners)
    reader = ReadAloud()
    assert reader.shutdown()  # never opened: no thread


def test_no_qthread_is_made_outside_the_workers_base():
    package = Path(desktop_assistant.__file__).parent
    makers = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Name) and func.id == "QThread":
                makers.append(path.relative_to(package).as_posix())
    assert makers == ["ui/workers/__init__.py"]
