"""The speech thread (Whisper, kept loaded) and the microphone, adapted to Qt signals.

`SpeechThread` owns the speech-to-text engine on its own long-lived thread, like the chat
model. `Microphone` records one utterance at a time through `audio.capture.Recorder`, whose
callbacks arrive on the recorder's thread and are passed on as queued signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_assistant.audio.errors import AudioCancelled
from desktop_assistant.core.errors import UserError
from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.workers import WorkerThread

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # no numpy, torch or sounddevice before the window is painted
    import numpy as np

    from desktop_assistant.audio.capture import InputStream, Recorder
    from desktop_assistant.audio.vad import SpeechDetector
    from desktop_assistant.inference.speech import SpeechToText

SpeechFactory = Callable[[str], "SpeechToText"]  # model folder -> a speech-to-text engine
StreamFactory = Callable[[], "InputStream"]  # -> the microphone's stream


def speech_factory_for(settings: Settings) -> SpeechFactory:
    def make(path: str) -> SpeechToText:
        from desktop_assistant.core import remotes

        name = remotes.remote_name(path)
        if name is not None:  # picked by the user: a server's /v1/audio/transcriptions
            from desktop_assistant.inference.remote_speech import RemoteSpeechEngine

            remote = remotes.find_remote(settings, name)
            return RemoteSpeechEngine(remote, remotes.get_api_key(name))
        from desktop_assistant.inference.speech import WhisperEngine

        return WhisperEngine.from_settings(path, settings)

    return make


def stream_factory_for(settings: Settings) -> StreamFactory:
    """The microphone the settings name (or the system's default)."""

    def make() -> InputStream:
        from desktop_assistant.audio.capture import SoundDeviceStream

        return SoundDeviceStream(settings.get("input_device") or None)

    return make


class SpeechWorker(QObject):
    """Owns the speech engine; slots run on the speech thread.

    Signals: loaded(name, detector model), load_failed(message), partial(request_id, text),
    transcribed(request_id, Transcript), progress(request_id, done_s, total_s),
    failed(request_id, message).
    """

    loaded = Signal(str, object)
    load_failed = Signal(str)
    partial = Signal(int, str)
    transcribed = Signal(int, object)
    progress = Signal(int, float, float)
    failed = Signal(int, str)

    def __init__(self, factory: SpeechFactory) -> None:
        super().__init__()
        self._factory = factory
        self._engine: SpeechToText | None = None
        self._latest_partial = 0  # partial requests older than this are skipped
        self._stopped_up_to = 0  # transcriptions with this id or lower were stopped (Esc)
        self._lock = threading.Lock()

    @Slot(str)
    def load(self, path: str) -> None:
        try:
            engine = self._factory(path)
            engine.load()
            from desktop_assistant.audio.vad import load_model

            detector_model = load_model()  # its own copy: it keeps state per stream
        except UserError as err:
            self.load_failed.emit(str(err))
            return
        except Exception as err:
            log.exception("loading the speech model failed")
            self.load_failed.emit(f"could not load the speech model in {path}: {err}")
            return
        self._engine = engine
        self.loaded.emit(engine.name, detector_model)

    def want_partial(self, request_id: int) -> None:
        """Thread-safe: only the newest partial request is worth decoding."""
        with self._lock:
            self._latest_partial = max(self._latest_partial, request_id)

    @Slot(int, object)
    def decode_partial(self, request_id: int, audio: np.ndarray) -> None:
        with self._lock:
            stale = request_id < self._latest_partial
        if stale or self._engine is None:
            return
        try:
            self.partial.emit(request_id, self._engine.partial(audio).text)
        except Exception:
            log.exception("partial transcript failed")  # the final one will still come

    @Slot(int, object, bool)
    def transcribe(self, request_id: int, audio: np.ndarray | Path, trimmed: bool = False) -> None:
        """`audio`: 16 kHz samples, or the Path of a file to decode first. `trimmed`: samples
        the microphone's voice detector has already cut to the speech. A transcription
        stopped with `stop` comes back `cancelled`, with the words heard until then."""
        from desktop_assistant.inference.speech import Transcript

        if self._engine is None:
            self.failed.emit(request_id, "no speech model is loaded")
            return
        engine = self._engine

        def stopped() -> bool:
            with self._lock:
                return request_id <= self._stopped_up_to

        def progress(done: float, total: float) -> None:
            if stopped():
                engine.cancel()  # again: the engine clears its flag when it starts
            self.progress.emit(request_id, done, total)

        try:
            if isinstance(audio, Path):
                from desktop_assistant.audio.files import decode_file

                audio = decode_file(audio, stop=stopped)
            if stopped():
                raise AudioCancelled("stopped")
            result = engine.transcribe(audio, progress, trimmed)
        except AudioCancelled:
            self.transcribed.emit(request_id, Transcript("", "", 0.0, 0.0, cancelled=True))
            return
        except UserError as err:
            self.failed.emit(request_id, str(err))
            return
        except Exception as err:
            log.exception("transcription failed")
            self.failed.emit(request_id, f"speech recognition failed: {err}")
            return
        self.transcribed.emit(request_id, result)

    def stop(self, request_id: int) -> None:
        """Thread-safe: stop transcribing `request_id` (reading its file, or decoding)."""
        with self._lock:
            self._stopped_up_to = max(self._stopped_up_to, request_id)
        self.cancel()

    def cancel(self) -> None:
        engine = self._engine
        if engine is not None:
            engine.cancel()


class SpeechThread(WorkerThread):
    """The speech model's thread. Signals mirror the worker's slots (queued)."""

    load_requested = Signal(str)
    partial_requested = Signal(int, object)
    transcribe_requested = Signal(int, object, bool)  # request id, audio, trimmed

    worker: SpeechWorker

    def __init__(self, factory: SpeechFactory, parent: QObject | None = None) -> None:
        super().__init__("speech-model", SpeechWorker(factory), parent)
        self.start(
            [
                (self.load_requested, self.worker.load),
                (self.partial_requested, self.worker.decode_partial),
                (self.transcribe_requested, self.worker.transcribe),
            ]
        )

    def before_quit(self) -> None:
        self.worker.cancel()


class Microphone(QObject):
    """One recording at a time, with live level and time, stopping itself after speech.

    Signals: level(dBFS), elapsed(seconds), paused() when speech has paused briefly (a good
    moment to decode ahead), stopped(Recording) when it ended (by the user, by trailing
    silence, by the time limit or by a failing device: `Recording.error`).
    """

    level = Signal(float)
    elapsed = Signal(float)
    paused = Signal()
    stopped = Signal(object)

    def __init__(self, streams: StreamFactory, settings: Settings) -> None:
        super().__init__()
        self._streams = streams
        self.settings = settings
        self.detector_model: Any = None  # silero-vad, loaded with the speech model
        self._recorder: Recorder | None = None
        self._detector: SpeechDetector | None = None

    @property
    def recording(self) -> bool:
        return self._recorder is not None and not self._recorder.finished

    def start(self) -> None:
        """Start recording; raises `AudioError` with a clear message when it cannot."""
        from desktop_assistant.audio.capture import Recorder
        from desktop_assistant.audio.vad import SpeechDetector, VadOptions

        detector = None
        if self.detector_model is not None:
            options = VadOptions(trailing_silence_s=self.settings.get("vad_silence_s"))
            detector = SpeechDetector(options, self.detector_model)
        self._detector = detector
        self._recorder = Recorder(
            self._streams(),
            detector,
            on_level=self.level.emit,
            on_elapsed=self.elapsed.emit,
            on_pause=self.paused.emit,
            on_stopped=self.stopped.emit,
        )
        try:
            self._recorder.start()
        except Exception:
            self._recorder = None
            raise

    def last_speech_s(self) -> float | None:
        """Where the latest speech ended, in seconds from the start (None: none heard)."""
        return self._detector.last_speech_s if self._detector is not None else None

    def audio(self) -> np.ndarray | None:
        return self._recorder.audio() if self._recorder is not None else None

    def speech(self) -> np.ndarray | None:
        """The speech heard so far (padded, as `Recording.speech`); None before any."""
        audio, detector = self.audio(), self._detector
        if audio is None or detector is None:
            return None
        return detector.speech_in(audio)

    def stop(self) -> None:
        """End the recording; `stopped` follows (from the recorder's thread)."""
        recorder = self._recorder
        if recorder is not None and not recorder.finished:
            threading.Thread(target=recorder.stop, name="mic-stop", daemon=True).start()

    def cancel(self) -> None:
        """Throw the recording away (Esc): no `stopped` signal."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None and not recorder.finished:
            recorder.cancel()
