"""ChatWorker (ui/workers/chat.py) on the calling thread, with the fake engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import UserError
from desktop_assistant.inference.options import GenerationOptions
from desktop_assistant.ui.workers import chat
from tests.fakes import FakeChatEngine


def _run(engine: FakeChatEngine) -> tuple[list[str], list[object], list[str]]:
    worker = chat.ChatWorker(lambda path: engine)
    chunks: list[str] = []
    finished: list[object] = []
    failed: list[str] = []
    worker.chunk.connect(lambda request, text: chunks.append(text))
    worker.finished.connect(lambda request, reply: finished.append(reply))
    worker.failed.connect(lambda request, message: failed.append(message))
    worker.load("fake")
    worker.generate(1, [Message("user", "hi")], GenerationOptions(max_new_tokens=200))
    return chunks, finished, failed


def test_fast_tokens_reach_the_window_in_fewer_pieces_and_whole():
    """Each piece wakes the UI thread: tokens faster than CHUNK_EVERY_S go together, and the
    pieces add up to the answer, the last one sent before `finished`."""
    engine = FakeChatEngine(tokens=[f"t{i} " for i in range(200)])
    chunks, finished, failed = _run(engine)
    assert not failed and len(finished) == 1
    assert "".join(chunks) == "".join(engine.emitted) == finished[0].text
    assert 1 <= len(chunks) < 20  # 200 tokens in well under CHUNK_EVERY_S each


def test_slow_tokens_are_sent_one_by_one():
    engine = FakeChatEngine(tokens=["a ", "b ", "c "], delay_s=chat.CHUNK_EVERY_S * 1.5)
    chunks, finished, _ = _run(engine)
    assert chunks == ["a ", "b ", "c "]


def test_text_streamed_before_a_failure_is_sent_first():
    class Failing(FakeChatEngine):
        def generate(self, messages, options, on_text):
            on_text("partial ")
            on_text("answer")
            raise UserError("the model stopped")

    chunks, finished, failed = _run(Failing())
    assert "".join(chunks) == "partial answer" and failed == ["the model stopped"]
    assert not finished


class _Reader(FakeChatEngine):
    """Reads pictures ahead until cancelled (or 5 s)."""

    reads_images = True

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()

    def prepare_pictures(self, paths, high_detail):
        self._cancel.clear()
        self.reading.set()
        return [] if self._cancel.wait(5) else list(paths)


def _reading(engine: _Reader) -> tuple[chat.ChatWorker, threading.Thread, list[object]]:
    worker = chat.ChatWorker(lambda path: engine)
    worker.load("fake")
    prepared: list[object] = []
    worker.pictures_prepared.connect(lambda paths, detail: prepared.append(paths))
    thread = threading.Thread(target=worker.prepare_pictures, args=([Path("a.png")], False))
    thread.start()
    assert engine.reading.wait(5)
    return worker, thread, prepared


def test_a_question_without_pictures_does_not_wait_for_reading_ahead():
    engine = _Reader()
    worker, thread, prepared = _reading(engine)
    started = time.monotonic()
    worker.interrupt_reading(1, [Message("user", "hi")], GenerationOptions())
    thread.join(5)
    assert time.monotonic() - started < 2 and prepared == []  # stopped, nothing read


def test_a_question_with_pictures_lets_the_reading_go_on():
    engine = _Reader()
    worker, thread, prepared = _reading(engine)
    question = [Message("user", "what is it?", (Path("a.png"),))]
    worker.interrupt_reading(1, question, GenerationOptions())
    assert thread.is_alive()
    engine._cancel.set()  # end the fake's reading
    thread.join(5)
    worker.interrupt_reading(2, [Message("user", "hi")], GenerationOptions())
    assert not engine.cancelled.is_set()  # nothing was being read: no cancel
