"""Workers that own engines on their own threads and talk to the window by queued signals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import AnswerInterrupted, UserError
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.inference.options import GenerationOptions, Reply, ReplyStats
from desktop_assistant.ui.workers import WorkerThread

# Streamed text goes to the UI thread at most this often (it repaints every 40 ms anyway):
# each signal wakes the UI thread, which on 2 cores takes a core from the model's threads.
CHUNK_EVERY_S = 0.03

log = logging.getLogger(__name__)

EngineFactory = Callable[[str], ChatEngine]


def engine_factory_for(settings: Settings) -> EngineFactory:
    """Engines in the precision and thread count the settings ask for."""

    def make(path: str) -> ChatEngine:
        from desktop_assistant.inference.factory import open_engine

        return open_engine(path, settings.get("precision"), settings.get("threads"), settings)

    return make


def _sources_left_out(
    engine: object, messages: Sequence[Message], options: GenerationOptions
) -> set[int]:
    """The numbers of sources that earlier questions gave in full but the model will not read:
    the engine leaves those questions out of a prompt too long for its context (its own
    `left_out`; a remote server's context is its own affair) and no later question gives
    them again."""
    from desktop_assistant.core.grounding import numbers_given

    left_out = getattr(engine, "left_out", None)
    dropped = left_out(messages, options) if left_out is not None else 0
    if not dropped:
        return set()
    first = 1 if messages[0].role == "system" else 0
    gone = messages[first : first + dropped]
    kept = messages[first + dropped : -1]
    given = [numbers_given(m.content) for m in gone if m.role == "user"]
    still = [numbers_given(m.content) for m in kept if m.role == "user"]
    return set().union(*given) - set().union(*still)


class ChatWorker(QObject):
    """Owns the chat engine; every slot runs on the worker thread.

    Signals: loading(name), progress(status line), loaded(name, precision), load_failed(message),
    images_supported(bool) just before loaded, chunk(request_id, text),
    finished(request_id, Reply), failed(request_id, message), interrupted(request_id,
    message) when the answer was cut in the middle (its text kept), pictures_prepared(paths,
    high_detail) once pictures were read ahead of a question, grounded(request_id, question
    as sent, [(number, Hit)] of the sources that match it) before a question about documents
    is answered.

    `database`: the history file, where documents' passages are looked up (read-only, on a
    connection of this thread's own) for a question with `options.documents`.
    """

    loading = Signal(str)
    progress = Signal(str)
    loaded = Signal(str, str)
    images_supported = Signal(bool)
    load_failed = Signal(str)
    chunk = Signal(int, str)
    finished = Signal(int, object)
    failed = Signal(int, str)
    interrupted = Signal(int, str)
    pictures_prepared = Signal(object, bool)
    grounded = Signal(int, str, object)

    def __init__(self, engine_factory: EngineFactory) -> None:
        super().__init__()
        self.database: Path | None = None
        self._db: Any = None  # sqlite3 connection to `database`, opened at first use
        self._factory = engine_factory
        self._engine: ChatEngine | None = None
        self._lock = threading.Lock()
        self._cancelled_upto = 0  # every request id up to this one is cancelled
        self._reading = False  # prepare_pictures is running (under _lock)

    @Slot(str)
    def load(self, path: str) -> None:
        if self._engine is not None:
            self._engine.unload()
            self._engine = None
        try:
            engine = self._factory(path)
            self.loading.emit(engine.name)
            engine.load(self.progress.emit)
        except UserError as err:
            self.load_failed.emit(str(err))
            return
        except Exception as err:  # a bug or an unexpected file: report, never crash the app
            log.exception("loading %s failed", path)
            self.load_failed.emit(f"could not load the model in {path}: {err}")
            return
        self._engine = engine
        self.images_supported.emit(bool(getattr(engine, "reads_images", False)))
        self.loaded.emit(engine.name, engine.precision)
        warm_up = getattr(engine, "warm_up", None)  # the vision engine's: while the user types
        if warm_up is not None:
            try:
                warm_up()
            except Exception:  # a timing and the kernels' set-up: the first question does it
                log.exception("warming up %s failed", engine.name)

    @Slot(int, object, object)
    def generate(
        self, request_id: int, messages: Sequence[Message], options: GenerationOptions
    ) -> None:
        engine = self._engine
        if self._is_cancelled(request_id):
            self.finished.emit(request_id, Reply("", ReplyStats(0, 0, 0.0, 0.0, 0.0, True)))
            return
        if engine is None:
            self.failed.emit(request_id, "no model is loaded")
            return

        pending: list[str] = []
        last_sent = 0.0

        def send() -> None:
            nonlocal last_sent
            if pending:
                self.chunk.emit(request_id, "".join(pending))
                pending.clear()
            last_sent = time.monotonic()

        def on_text(text: str) -> None:
            if self._is_cancelled(request_id):
                engine.cancel()  # a cancel that raced with the start of generate
                return
            pending.append(text)
            if time.monotonic() - last_sent >= CHUNK_EVERY_S:
                send()

        try:
            if options.documents:
                messages = self._ground(request_id, messages, options, engine)
            reply = engine.generate(messages, options, on_text)
        except AnswerInterrupted as err:
            send()
            self.interrupted.emit(request_id, str(err))
            return
        except UserError as err:
            send()
            self.failed.emit(request_id, str(err))
            return
        except Exception as err:
            log.exception("generation failed")
            send()
            self.failed.emit(request_id, f"the model failed while answering: {err}")
            return
        send()
        self.finished.emit(request_id, reply)

    def _ground(
        self,
        request_id: int,
        messages: Sequence[Message],
        options: GenerationOptions,
        engine: ChatEngine,
    ) -> Sequence[Message]:
        """The messages with the last question replaced by the question and its sources
        (`storage.documents.grounded`: the best passages that fit the model's context)."""
        from dataclasses import replace

        from desktop_assistant.storage.database import connect
        from desktop_assistant.storage.documents import DocumentStore, grounded

        if self.database is None or not messages or messages[-1].role != "user":
            return messages
        if self._db is None:
            self._db = connect(self.database)
        store = DocumentStore(self._db)
        documents = store.by_ids(list(options.documents))
        if not documents:
            raise UserError("the documents of this chat are gone (removed meanwhile)")
        question = messages[-1].content
        lost: set[int] = set()
        for _ in range(3):  # giving a lost source again can leave out one more question
            text, hits, numbers = grounded(
                store, question, documents, engine, options.max_new_tokens,
                options.given_passages, lost,
            )  # fmt: skip
            sent = [*messages[:-1], replace(messages[-1], content=text)]
            now_lost = _sources_left_out(engine, sent, options)
            if now_lost <= lost:
                break
            lost |= now_lost
        self.grounded.emit(request_id, text, list(zip(numbers, hits, strict=True)))
        return sent

    @Slot(object, bool)
    def prepare_pictures(self, paths: Sequence[Path], high_detail: bool) -> None:
        """Read attached pictures before the question is sent, for engines that can
        (VisionChatEngine.prepare_pictures); a failure here is only logged: sending the
        picture reports it."""
        prepare = getattr(self._engine, "prepare_pictures", None)
        if prepare is None or not paths:
            return
        with self._lock:
            self._reading = True
        try:
            ready = prepare(list(paths), high_detail)
        except Exception:
            log.exception("reading pictures ahead failed")
            return
        finally:
            with self._lock:
                self._reading = False
        if ready:
            self.pictures_prepared.emit(list(ready), high_detail)

    def interrupt_reading(
        self, request_id: int, messages: Sequence[Message], options: GenerationOptions
    ) -> None:
        """Called on the UI thread as a question is sent (a direct connection): a question
        without pictures does not wait for pictures being read ahead; one with pictures lets
        the reading go on, since it is most likely reading those."""
        if messages and messages[-1].images:
            return
        with self._lock:
            if self._reading and self._engine is not None:
                self._engine.cancel()  # only prepare_pictures can be running now

    def cancel(self, request_id: int) -> None:
        """Thread-safe: called directly from the UI thread while `generate` runs."""
        with self._lock:
            self._cancelled_upto = max(self._cancelled_upto, request_id)
        engine = self._engine
        if engine is not None:
            engine.cancel()

    def estimate_image_seconds(self, sizes: list[tuple[int, int]], high_detail: bool) -> float:
        """Seconds the model needs to read pictures of these sizes; 0 when it cannot say.

        Called directly from the UI thread: the vision engine's estimate is arithmetic on its
        processor settings and a timing measured at load, safe from any thread."""
        estimate = getattr(self._engine, "estimate_image_seconds", None)
        if estimate is None or not sizes:
            return 0.0
        try:
            return float(estimate(sizes, high_detail))
        except Exception:  # an estimate is a nicety; never let it break sending
            log.exception("estimating image time failed")
            return 0.0

    def _is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id <= self._cancelled_upto

    @Slot()
    def unload(self) -> None:
        if self._engine is not None:
            self._engine.unload()
            self._engine = None
        if self._db is not None:
            self._db.close()
            self._db = None


class ChatThread(WorkerThread):
    """The one long-lived thread that owns the chat model, and its worker.

    Signals: load_requested(path), generate_requested(request_id, messages, options),
    prepare_requested(paths, high_detail) are connected (queued) to the worker's slots.
    """

    load_requested = Signal(str)
    generate_requested = Signal(int, object, object)
    prepare_requested = Signal(object, bool)

    SHUTDOWN_MS = 30_000
    worker: ChatWorker

    def __init__(self, engine_factory: EngineFactory, parent: QObject | None = None) -> None:
        super().__init__("chat-model", ChatWorker(engine_factory), parent)
        # on the sending thread, before the request queues: see interrupt_reading
        self.generate_requested.connect(
            self.worker.interrupt_reading, Qt.ConnectionType.DirectConnection
        )
        self.start(
            [
                (self.load_requested, self.worker.load),
                (self.generate_requested, self.worker.generate),
                (self.prepare_requested, self.worker.prepare_pictures),
            ]
        )

    def before_quit(self) -> None:
        self.worker.cancel(1 << 62)  # stop any reply
