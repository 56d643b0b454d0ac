"""Reading answers aloud with Qt's QtTextToSpeech, sentence by sentence as they stream.

Code blocks are not read (they are said to be there); Markdown marks are dropped. The speech
engine lives on a thread of its own (opening it can take seconds). With no speech engine or no
voice on the system, `available` is False and `why_not` says what to install; nothing fails.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_assistant.ui.workers import WorkerThread

log = logging.getLogger(__name__)

# What Qt's speech needs on Linux: libpulse0 (QtTextToSpeech links QtMultimedia, which links
# it: without it the module does not import), speech-dispatcher (the system's speech service,
# Qt's "speechd" engine) and a voice for it. scripts/setup installs them when run as root.
LINUX_PACKAGES = "libpulse0 speech-dispatcher speech-dispatcher-espeak-ng"
NO_VOICE = (
    "Reading aloud needs a system voice, and none was found. On Debian or Ubuntu install "
    f"them with: sudo apt install {LINUX_PACKAGES} (other Linux systems: speech-dispatcher "
    "with espeak-ng, and PulseAudio's client library), then restart the app."
)
_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+|\n{2,}")
_CODE = re.compile(r"```.*?(```|$)", re.S)
_MARKS = re.compile(r"[*_`#>|]+|\[([^\]]*)\]\([^)]*\)")


def speakable(markdown: str) -> str:
    """What to say for a Markdown answer."""
    text = _CODE.sub(" (code block) ", markdown)
    text = _MARKS.sub(lambda m: m.group(1) or " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


OPENING = "Looking for the system's voice…"


def _import_speech_module() -> None:
    """Import Qt's speech module on the UI thread (9 ms); only creating the engine, which
    takes seconds, needs the thread. Its import ran once at the same time as torch.jit loading
    silero-vad on the speech thread and the two deadlocked (on either thread): the window
    opens the read-aloud after the speech model is loaded (voice_control.py)."""
    with contextlib.suppress(ImportError):  # the speaker reports it, on its thread
        import PySide6.QtTextToSpeech  # noqa: F401


class _Speaker(QObject):
    """Owns QTextToSpeech on the read-aloud thread. Opening the system's engine takes
    1.3-1.8 s with speech-dispatcher (and does not return while that service is stuck), which
    froze the window once at every start when it ran on the UI thread.

    Signals: opened(why_not: "" when a voice was found), finished(generation) when what was
    queued for that generation has been said (or failed)."""

    opened = Signal(str)
    finished = Signal(int)

    def __init__(self, engine: str) -> None:
        super().__init__()
        self._engine_name = engine
        self._tts: Any = None
        self._generation = 0
        self._speaking = False

    @Slot()
    def open(self) -> None:
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except ImportError as err:  # a library it links is missing (libpulse.so.0)
            log.info("no text-to-speech module: %s", err)
            self.opened.emit(NO_VOICE)
            return
        name = self._engine_name
        tts = QTextToSpeech(name, self) if name else QTextToSpeech(self)
        if tts.state() == QTextToSpeech.State.Error or not tts.availableVoices():
            log.info("no text-to-speech voice: %s", tts.errorString())
            tts.deleteLater()
            self.opened.emit(NO_VOICE)
            return
        tts.stateChanged.connect(self._on_state)
        self._tts = tts
        self.opened.emit("")

    @Slot(int, object)
    def enqueue(self, generation: int, parts: list[str]) -> None:
        if self._tts is None:
            return
        self._generation = generation
        for part in parts:
            self._tts.enqueue(part)  # Qt stays in Speaking until the queue is done
        self._speaking = True

    @Slot(int)
    def stop(self, generation: int) -> None:
        if self._tts is not None:
            self._tts.stop()
        self._speaking = False
        self._generation = generation

    def _on_state(self, state: object) -> None:
        from PySide6.QtTextToSpeech import QTextToSpeech

        if state == QTextToSpeech.State.Error:
            log.warning("text to speech failed: %s", self._tts.errorString() if self._tts else "")
        if state in (QTextToSpeech.State.Ready, QTextToSpeech.State.Error) and self._speaking:
            self._speaking = False
            self.finished.emit(self._generation)


class ReadAloud(QObject):
    """Reads answers aloud through `_Speaker` on a thread of its own.

    Signals: opened() once it is known whether there is a voice (`available`, `why_not`),
    started(), finished() when the last queued sentence has been said or reading stopped.
    """

    opened = Signal()
    started = Signal()
    finished = Signal()
    _open_requested = Signal()
    _enqueue_requested = Signal(int, object)
    _stop_requested = Signal(int)

    def __init__(self, engine: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine_name = engine
        self._thread: WorkerThread | None = None
        self._speaker: _Speaker | None = None
        self.why_not = OPENING
        self._ready = False
        self._spoken_upto = 0  # characters of the streaming answer already queued
        self._speaking = False
        self._generation = 0  # what the speaker reports finished is ignored once stopped

    def open(self) -> None:
        """Find the speech engine and a voice, on the read-aloud thread; `opened` follows."""
        if self._thread is not None:
            return
        _import_speech_module()
        self._speaker = _Speaker(self._engine_name)
        self._thread = WorkerThread("read-aloud", self._speaker)
        self._speaker.opened.connect(self._on_opened)
        self._speaker.finished.connect(self._on_finished)
        self._thread.start(
            [
                (self._open_requested, self._speaker.open),
                (self._enqueue_requested, self._speaker.enqueue),
                (self._stop_requested, self._speaker.stop),
            ]
        )
        self._open_requested.emit()

    def _on_opened(self, why_not: str) -> None:
        self.why_not = why_not
        self._ready = not why_not
        self.opened.emit()

    @property
    def available(self) -> bool:
        return self._ready

    @property
    def speaking(self) -> bool:
        return self._speaking

    def say(self, markdown: str) -> None:
        """Read a whole answer, from its start (stops whatever was being read)."""
        self.stop()
        self._queue(sentences(speakable(markdown)))

    def follow(self, markdown_so_far: str, done: bool = False) -> None:
        """Read a streaming answer: each sentence as soon as it is complete."""
        text = speakable(markdown_so_far)
        if len(text) < self._spoken_upto:  # a new answer
            self._spoken_upto = 0
        parts = sentences(text[self._spoken_upto :])
        if not done and parts and not _SENTENCE_END.search(text[self._spoken_upto :][-3:]):
            parts = parts[:-1]  # the last one is still being written
        for part in parts:
            self._spoken_upto = text.index(part, self._spoken_upto) + len(part)
        self._queue(parts)
        if done:
            self._spoken_upto = 0

    def _queue(self, parts: list[str]) -> None:
        if not self._ready or not parts:
            return
        self._enqueue_requested.emit(self._generation, parts)
        if not self._speaking:
            self._speaking = True
            self.started.emit()

    def stop(self) -> None:
        """Stop at once (Esc, "stop", or the user starts speaking)."""
        self._spoken_upto = 0
        self._generation += 1
        if self._ready:
            self._stop_requested.emit(self._generation)
        if self._speaking:
            self._speaking = False
            self.finished.emit()

    def _on_finished(self, generation: int) -> None:
        if generation == self._generation and self._speaking:
            self._speaking = False
            self.finished.emit()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop reading and end the thread (False: the system's speech service did not let
        go in time; the thread is left to end with the app)."""
        self.stop()
        if self._thread is None:
            return True
        if self._thread.shutdown(timeout_ms):
            return True
        _STUCK.append(self._thread)  # not destroyed while it runs: Qt would abort
        return False


_STUCK: list[WorkerThread] = []
