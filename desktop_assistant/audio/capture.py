"""Recording from the microphone into a bounded 16 kHz mono buffer, Qt-free.

The sound device is injectable: `Recorder` takes any `InputStream` (the real one wraps
`sounddevice.InputStream` at the device's own rate; tests pass a fake that plays WAV files).
The stream pushes blocks from its own thread; the recorder's thread converts them to 16 kHz
mono (soxr, streaming), keeps them, reports the level and elapsed time, feeds the optional
`SpeechDetector` and stops by itself after the trailing silence, at the length limit, or when
the device fails. Callbacks run on the recorder's thread; the window adapts them to signals.
Whatever was recorded before a failure is kept in the `Recording`.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import SAMPLE_RATE
from desktop_assistant.audio.vad import SpeechDetector

log = logging.getLogger(__name__)
BlockCallback = Callable[[np.ndarray], None]
FailureCallback = Callable[[str], None]
MAX_SECONDS = 600.0  # a recording stops by itself after 10 minutes
STALL_S = 2.0  # a started device that sends nothing this long has failed
SILENT_DBFS = -100.0


class InputStream(Protocol):
    """A started-on-demand audio source that pushes blocks from its own thread."""

    @property
    def samplerate(self) -> float: ...

    @property
    def channels(self) -> int: ...

    def start(self, on_block: BlockCallback, on_failure: FailureCallback) -> None:
        """Start pushing float32 blocks (frames x channels) to `on_block`; `on_failure` gets a
        message if the device fails or disappears. Raises `AudioError` if it cannot start."""
        ...

    def stop(self) -> None:
        """Stop and release the device; no `on_block` call after it returns. Idempotent."""
        ...


@dataclass(frozen=True)
class InputDevice:
    index: int  # sounddevice's device number
    name: str
    channels: int  # input channels
    samplerate: float  # the device's default rate
    is_default: bool


def list_input_devices() -> list[InputDevice]:
    """Microphones the system offers (empty when there is none or no audio system)."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
        default = sd.default.device[0]
    except Exception as err:  # no PortAudio library, no audio system
        log.info("no audio devices: %s", err)
        return []
    return [
        InputDevice(i, d["name"], d["max_input_channels"], d["default_samplerate"], i == default)
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


NO_MICROPHONE = (
    "No microphone found. Connect one (or check that the system sees it), then choose it "
    "in Settings → Input device."
)


class SoundDeviceStream:
    """The real microphone: `sounddevice.InputStream` at the device's own rate."""

    def __init__(self, device: int | str | None = None, block_s: float = 0.03) -> None:
        chosen = self._find(device)
        self.device = chosen.index
        self.name = chosen.name
        self._samplerate = float(chosen.samplerate)
        self._channels = min(2, max(1, chosen.channels))
        self.block_s = block_s
        self._stream: Any = None
        self._stopping = False

    @staticmethod
    def _find(device: int | str | None) -> InputDevice:
        devices = list_input_devices()
        if not devices:
            raise AudioError(NO_MICROPHONE)
        if device in (None, ""):
            return next((d for d in devices if d.is_default), devices[0])
        for d in devices:
            if device == d.index or (isinstance(device, str) and device.lower() in d.name.lower()):
                return d
        names = ", ".join(d.name for d in devices)
        raise AudioError(f"the microphone {device!r} is not connected; available: {names}")

    @property
    def samplerate(self) -> float:
        return self._samplerate

    @property
    def channels(self) -> int:
        return self._channels

    def start(self, on_block: BlockCallback, on_failure: FailureCallback) -> None:
        import sounddevice as sd

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            if status.input_overflow:
                log.info("microphone overflow: some audio was dropped")
            on_block(indata.copy())

        def finished() -> None:
            if not self._stopping:
                on_failure(f"the microphone ({self.name}) stopped: was it unplugged?")

        self._stopping = False
        try:
            self._stream = sd.InputStream(
                device=self.device,
                samplerate=self._samplerate,
                channels=self._channels,
                dtype="float32",
                blocksize=int(self._samplerate * self.block_s),
                callback=callback,
                finished_callback=finished,
            )
            self._stream.start()
        except Exception as err:
            self._stream = None
            raise AudioError(f"could not open the microphone ({self.name}): {err}") from err

    def stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as err:  # the device may already be gone
                log.info("closing the microphone: %s", err)


@dataclass(frozen=True)
class Recording:
    audio: np.ndarray  # everything recorded, 16 kHz mono float32
    speech: np.ndarray | None  # the speech with a little padding; None: no speech heard
    stopped_by: str  # "user", "silence" (end of speech), "limit", "failure" or "cancel"
    error: AudioError | None = None  # set when the device failed; `audio` is what came before

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def dbfs(block: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-100 for digital silence)."""
    if block.size == 0:
        return SILENT_DBFS
    rms = math.sqrt(float(np.mean(np.square(block, dtype=np.float64))))
    return max(SILENT_DBFS, 20 * math.log10(rms)) if rms > 0 else SILENT_DBFS


class Recorder:
    """One recording from `stream`; `start`, then `stop` (or it stops by itself)."""

    def __init__(
        self,
        stream: InputStream,
        detector: SpeechDetector | None = None,
        *,
        max_seconds: float = MAX_SECONDS,
        stall_s: float = STALL_S,
        on_level: Callable[[float], None] | None = None,
        on_elapsed: Callable[[float], None] | None = None,
        on_pause: Callable[[], None] | None = None,
        on_stopped: Callable[[Recording], None] | None = None,
    ) -> None:
        self.stream = stream
        self.detector = detector
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.stall_s = stall_s
        self.on_level = on_level  # dBFS of each block
        self.on_elapsed = on_elapsed  # seconds recorded so far
        self.on_pause = on_pause  # speech paused for VadOptions.pause_s (decode ahead)
        self.on_stopped = on_stopped  # the recording ended by itself or by stop()
        self._buffer = np.zeros(SAMPLE_RATE * 4, np.float32)
        self._length = 0
        self._lock = threading.Lock()
        self._blocks: queue.Queue[np.ndarray | None] = queue.Queue()
        self._done = threading.Event()
        self._stop_reason = ""
        self._error: AudioError | None = None
        self._thread: threading.Thread | None = None
        self._recording: Recording | None = None
        self._paused_reported = False

    @property
    def elapsed_s(self) -> float:
        return self._length / SAMPLE_RATE

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        """Open the device and record; raises `AudioError` when the device cannot start."""
        import soxr

        if self._thread is not None or self._done.is_set():
            raise RuntimeError("a Recorder records once")
        self._resampler = soxr.ResampleStream(
            self.stream.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
        )
        if self.detector is not None:
            self.detector.reset()
        try:
            self.stream.start(self._blocks.put, self._failed)
        except AudioError as err:
            self._error = err
            self._finish("failure")
            raise
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def _failed(self, message: str) -> None:
        self._error = AudioError(message)
        self._blocks.put(None)

    def _run(self) -> None:
        last_block = time.monotonic()
        while not self._stop_reason:
            try:
                block = self._blocks.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last_block > self.stall_s:
                    self._error = AudioError("the microphone stopped sending sound")
                    self._stop_reason = "failure"
                continue
            if block is None:  # a failure, or stop() woke us up
                if self._error is not None:
                    self._stop_reason = "failure"
                continue
            last_block = time.monotonic()
            self._process(block)
        self._close()

    def _process(self, block: np.ndarray) -> None:
        mono = block.mean(axis=1) if block.ndim == 2 else block
        mono = np.asarray(mono, np.float32)
        samples = self._resampler.resample_chunk(mono, last=False)
        self._append(samples)
        if self.on_level is not None:
            self.on_level(dbfs(mono))
        if self.on_elapsed is not None:
            self.on_elapsed(self.elapsed_s)
        if self._length >= self.max_samples:
            self._stop_reason = "limit"
            return
        detector = self.detector
        if detector is None or not len(samples):
            return
        detector.feed(samples)
        if detector.paused and not self._paused_reported:
            self._paused_reported = True
            if self.on_pause is not None:
                self.on_pause()
        elif not detector.paused:
            self._paused_reported = False
        if detector.ended:
            self._stop_reason = "silence"

    def _append(self, samples: np.ndarray) -> None:
        room = self.max_samples - self._length
        samples = samples[:room]
        with self._lock:
            needed = self._length + len(samples)
            if needed > len(self._buffer):
                size = min(self.max_samples, max(needed, 2 * len(self._buffer)))
                bigger = np.zeros(size, np.float32)
                bigger[: self._length] = self._buffer[: self._length]
                self._buffer = bigger
            self._buffer[self._length : needed] = samples
            self._length = needed

    def audio(self) -> np.ndarray:
        """A copy of what was recorded so far (for partial transcripts)."""
        with self._lock:
            return self._buffer[: self._length].copy()

    def _close(self) -> None:
        self.stream.stop()
        if self._stop_reason in ("user", "failure"):
            self._drain()
            try:  # the resampler's tail
                self._append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            except Exception as err:
                log.info("resampler flush: %s", err)
        self._resampler = None  # soxr's native state goes now, not at interpreter exit
        self._finish(self._stop_reason)

    def _drain(self) -> None:
        """Keep the blocks the device delivered before it stopped."""
        reason = self._stop_reason
        while self._length < self.max_samples:
            try:
                block = self._blocks.get_nowait()
            except queue.Empty:
                break
            if block is not None:
                self._process(block)
        self._stop_reason = reason

    def _finish(self, reason: str) -> None:
        audio = self.audio()
        speech = self.detector.speech_in(audio) if self.detector is not None else None
        self._recording = Recording(audio, speech, reason, self._error)
        self._done.set()
        if self.on_stopped is not None and reason != "cancel":
            self.on_stopped(self._recording)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the recording has ended (by itself or by `stop`)."""
        return self._done.wait(timeout)

    def stop(self, reason: str = "user") -> Recording:
        """End the recording (if still running) and return it."""
        if self._thread is not None and not self._done.is_set():
            if not self._stop_reason:
                self._stop_reason = reason
            self._blocks.put(None)
            self._thread.join()
        if self._recording is None:  # never started
            self._finish(reason)
        assert self._recording is not None
        return self._recording

    def cancel(self) -> None:
        """Stop and throw the recording away (Esc)."""
        self.stop("cancel")
