"""Reading answers aloud with Qt's QtTextToSpeech, sentence by sentence as they stream.

Code blocks are not read (they are said to be there); Markdown marks are dropped. With no
speech engine or no voice on the system, `available` is False and `why_not` says what to
install; nothing fails.
"""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import QObject, Signal

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


class ReadAloud(QObject):
    """Signals: started(), finished() when the last queued sentence has been said."""

    started = Signal()
    finished = Signal()

    def __init__(self, engine: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine_name = engine
        self._tts = None
        self.why_not = ""
        self._spoken_upto = 0  # characters of the streaming answer already queued
        self._speaking = False
        self._opened = False

    def open(self) -> None:
        """Find the speech engine and a voice (after the window is shown: it takes a while)."""
        if self._opened:
            return
        self._opened = True
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except ImportError as err:  # a library it links is missing (libpulse.so.0)
            log.info("no text-to-speech module: %s", err)
            self.why_not = NO_VOICE
            return
        tts = QTextToSpeech(self._engine_name, self) if self._engine_name else QTextToSpeech(self)
        if tts.state() == QTextToSpeech.State.Error or not tts.availableVoices():
            log.info("no text-to-speech voice: %s", tts.errorString())
            self.why_not = NO_VOICE
            tts.deleteLater()
            return
        tts.stateChanged.connect(self._on_state)
        self._tts = tts

    @property
    def available(self) -> bool:
        self.open()
        return self._tts is not None

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
        if self._tts is None or not parts:
            return
        for part in parts:
            self._tts.enqueue(part)  # Qt stays in Speaking until the queue is done
        if not self._speaking:
            self._speaking = True
            self.started.emit()

    def stop(self) -> None:
        """Stop at once (Esc, "stop", or the user starts speaking)."""
        self._spoken_upto = 0
        if self._tts is not None:
            self._tts.stop()
        if self._speaking:
            self._speaking = False
            self.finished.emit()

    def _on_state(self, state: object) -> None:
        from PySide6.QtTextToSpeech import QTextToSpeech

        if state == QTextToSpeech.State.Ready and self._speaking:
            self._speaking = False
            self.finished.emit()
        elif state == QTextToSpeech.State.Error:
            log.warning("text to speech failed: %s", self._tts.errorString() if self._tts else "")
            self._speaking = False
            self.finished.emit()
