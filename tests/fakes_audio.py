"""A fake microphone that plays WAV files: implements `audio.capture.InputStream`."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from desktop_assistant.audio.capture import BlockCallback, FailureCallback, InputStream
from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import decode_file, resample

SPEECH_DEV = Path(__file__).resolve().parents[2] / "shared" / "speech-dev"
if not SPEECH_DEV.is_dir():  # a worktree elsewhere: the machine's shared folder
    SPEECH_DEV = Path("/work/shared/speech-dev")


class FakeInputStream:
    """Plays `audio` (or WAV files) as a device at `samplerate` with `channels` channels.

    `speed`: 1.0 plays in real time, 4.0 four times faster, 0 as fast as the reader takes it.
    `then_silence_s`: digital silence after the files (a real device goes on sending).
    `fail_after_s`: the device "disappears" after this much audio: `on_failure` is called and
    no more blocks come. `start_error`: `start` raises it (a device that cannot open).
    `finished` is set once the last block was sent.
    """

    def __init__(
        self,
        *files: str | Path,
        audio: np.ndarray | None = None,
        samplerate: float = 48_000,
        channels: int = 2,
        speed: float = 0.0,
        block_s: float = 0.03,
        then_silence_s: float = 0.0,
        fail_after_s: float | None = None,
        start_error: str | None = None,
    ) -> None:
        pieces = [decode_file(f) for f in files]
        if audio is not None:
            pieces.append(np.asarray(audio, np.float32))
        pieces.append(np.zeros(int(then_silence_s * 16_000), np.float32))
        mono16k = np.concatenate(pieces)
        self.source = mono16k
        self._samplerate = float(samplerate)
        self._channels = channels
        self._frames = (
            resample(mono16k, 16_000, int(samplerate)) if samplerate != 16_000 else mono16k
        )
        self.speed = speed
        self.block = max(1, int(samplerate * block_s))
        self.fail_after_s = fail_after_s
        self.start_error = start_error
        self.finished = threading.Event()
        self.stopped = threading.Event()
        self.blocks_sent = 0
        self._thread: threading.Thread | None = None

    @property
    def samplerate(self) -> float:
        return self._samplerate

    @property
    def channels(self) -> int:
        return self._channels

    def start(self, on_block: BlockCallback, on_failure: FailureCallback) -> None:
        if self.start_error:
            raise AudioError(self.start_error)
        self.stopped.clear()
        self._thread = threading.Thread(
            target=self._play, args=(on_block, on_failure), daemon=True, name="fake-microphone"
        )
        self._thread.start()

    def _play(self, on_block: BlockCallback, on_failure: FailureCallback) -> None:
        frames = self._frames
        limit = len(frames)
        if self.fail_after_s is not None:
            limit = min(limit, int(self.fail_after_s * self._samplerate))
        for start in range(0, limit, self.block):
            if self.stopped.is_set():
                return
            chunk = frames[start : min(start + self.block, limit)]
            block = np.repeat(chunk[:, None], self._channels, axis=1).astype(np.float32)
            on_block(block)
            self.blocks_sent += 1
            if self.speed > 0 and self.stopped.wait(len(chunk) / self._samplerate / self.speed):
                return
        if self.fail_after_s is not None and not self.stopped.is_set():
            on_failure("the microphone (fake) stopped: was it unplugged?")
        self.finished.set()

    def stop(self) -> None:
        self.stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


_: type[InputStream] = FakeInputStream  # the fake implements the real Protocol (mypy checks)
