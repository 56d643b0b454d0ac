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


def test_sources_of_a_question_left_out_of_the_context_are_given_again(tmp_path, tiny_chat_dir):
    """The engine leaves out the oldest turns when a chat outgrows its context; a follow-up
    must then get the matching sources again (under their numbers), not be told they were
    given earlier."""
    from desktop_assistant.core.documents import Document, Page
    from desktop_assistant.core.grounding import numbers_given
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.storage.database import open_database
    from desktop_assistant.storage.documents import DocumentStore, grounded

    filler = "The committee discussed the budget, the schedule and the staffing. " * 30
    pages = [filler] * 12
    pages[7] = filler[:200] + " The lighthouse keeper was paid forty shillings a month. "
    db_path = tmp_path / "history.sqlite3"
    db = open_database(db_path).connection
    report = DocumentStore(db).add(Document("report.pdf", "pdf", "sha", tuple(
        Page(n, t) for n, t in enumerate(pages, 1))))  # fmt: skip

    engine = CausalLMEngine(tiny_chat_dir, precision="fp32")
    engine.load()
    question = "What was the lighthouse keeper paid?"
    first, hits, _ = grounded(DocumentStore(db), question, [report], engine, 16)
    db.close()
    count = len(engine.tokenizer.encode(first))
    worker = chat.ChatWorker(lambda path: engine)
    worker.database = db_path
    worker.load("tiny")
    sent: list[str] = []
    worker.grounded.connect(lambda request, text, numbered: sent.append(text))
    finished: list[object] = []
    worker.finished.connect(lambda request, reply: finished.append(reply))
    asked = [Message("user", first), Message("assistant", "Forty shillings [1].")]
    follow_up = Message("user", "Was the lighthouse keeper paid monthly?")
    options = GenerationOptions(max_new_tokens=16, documents=(report.id,),
                                given_passages=tuple(h.passage_id for h in hits))  # fmt: skip

    engine.context_tokens = 4 * count  # everything fits: named by number, not given again
    worker.generate(1, [*asked, follow_up], options)
    assert finished and "forty shillings" not in sent[-1] and numbers_given(sent[-1]) == set()

    engine.context_tokens = count + 80  # the first question no longer fits beside it
    worker.generate(2, [*asked, follow_up], options)
    assert len(finished) == 2
    assert "forty shillings" in sent[-1] and "[1] report.pdf, page 8:" in sent[-1]
    assert 1 in numbers_given(sent[-1])


def test_an_engine_that_cannot_say_what_it_leaves_out_gets_the_question_as_grounded():
    """A remote server (no `left_out`): nothing is taken as left out."""
    assert chat._sources_left_out(FakeChatEngine(), [Message("user", "hi")],
                                  GenerationOptions()) == set()  # fmt: skip


def test_an_engine_warms_up_after_it_is_ready_and_a_failed_warm_up_is_only_logged():
    """The vision engine's warm-up (a blank tile through the encoder) runs once the window
    has been told the model is ready, so the user can type meanwhile."""
    events: list[str] = []

    class Warming(FakeChatEngine):
        def warm_up(self):
            events.append("warm_up")
            raise RuntimeError("no kernels today")

    engine = Warming(tokens=["ok"])
    worker = chat.ChatWorker(lambda path: engine)
    worker.loaded.connect(lambda name, precision: events.append("loaded"))
    failed: list[str] = []
    worker.load_failed.connect(failed.append)
    worker.load("fake")
    assert events == ["loaded", "warm_up"] and not failed
    finished: list[object] = []
    worker.finished.connect(lambda request, reply: finished.append(reply))
    worker.generate(1, [Message("user", "hi")], GenerationOptions(max_new_tokens=5))
    assert finished and finished[0].text == "ok"
