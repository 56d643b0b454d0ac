"""Voice activity detection with silero-vad, streaming, on 16 kHz mono audio.

The `silero-vad` package ships its weights (a TorchScript file, ~2 MB); it is loaded straight
from the package's data folder, with torch, and never from the network. The package itself is
not imported: its `model` module calls `torch.set_num_threads(1)` at import, which would slow
the speech and chat models down for the whole process.

A frame takes ~0.3 ms on one thread; `feed` runs it on one thread (torch's thread count is
per OS thread with OpenMP), as two threads spin-waiting for such small work slow everything
down when the CPU is busy.

`SpeechDetector.feed` takes chunks of any size and says where speech started, where it last
was heard and whether it has ended: a trailing silence of `VadOptions.trailing_silence_s`
(the recording stops by itself) or, earlier, a short pause (`pause_s`, where the speech
engine may start decoding ahead). Silence or noise alone never starts speech.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import SAMPLE_RATE

FRAME = 512  # samples per model call at 16 kHz (32 ms): what silero-vad v5+ takes


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # speech probability at which speech starts
    release: float = 0.35  # probability under which a frame counts as silence (hysteresis)
    min_speech_s: float = 0.15  # shorter bursts (a click, a cough) do not start speech
    trailing_silence_s: float = 0.8  # silence after speech that ends the utterance
    # silence after which decoding may start ahead of the end (a wrong guess costs a decode,
    # cancelled when the next pause comes: ui/voice_control.py); 0.3 s made a 2 s command's
    # text come 0.1 s later
    pause_s: float = 0.2
    pad_s: float = 0.25  # audio kept before the start and after the end when trimming


def weights_file() -> Path:
    """silero-vad's bundled TorchScript weights, found without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise AudioError("voice detection needs the silero-vad package: pip install silero-vad")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.jit"
    if not path.is_file():
        raise AudioError(f"the silero-vad package has no weights file at {path}; reinstall it")
    return path


_load_lock = threading.Lock()


def load_model() -> Any:
    """A fresh silero-vad model (each detector needs its own: the model keeps state)."""
    import torch

    with _load_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "switch to torch.export"
        model = torch.jit.load(str(weights_file()), map_location="cpu")
    model.eval()
    with torch.inference_mode():
        for _ in range(3):  # TorchScript's profiling runs: first calls are 100x slower
            model(torch.zeros(FRAME), SAMPLE_RATE)
    model.reset_states()
    return model


class SpeechDetector:
    """Streaming speech detection over one utterance; `reset` for the next one."""

    def __init__(self, options: VadOptions | None = None, model: Any = None) -> None:
        self.options = options or VadOptions()
        self._model = model if model is not None else load_model()
        self.reset()

    def reset(self) -> None:
        self._model.reset_states()
        self._pending = np.zeros(0, np.float32)
        self.frames = 0  # frames seen
        self._run = 0  # consecutive speech frames not yet confirmed as speech
        self._speaking = False
        self.speech_start_s: float | None = None  # where the first speech began
        self.last_speech_s: float | None = None  # end of the latest speech frame
        self.probabilities: list[float] = []

    @property
    def position_s(self) -> float:
        return self.frames * FRAME / SAMPLE_RATE

    @property
    def heard_speech(self) -> bool:
        return self.speech_start_s is not None

    @property
    def silence_s(self) -> float:
        """Silence since the latest speech (0 before any speech)."""
        return 0.0 if self.last_speech_s is None else self.position_s - self.last_speech_s

    @property
    def paused(self) -> bool:
        """Speech was heard and has paused for `pause_s`: a good time to decode ahead."""
        return self.heard_speech and not self._speaking and self.silence_s >= self.options.pause_s

    @property
    def ended(self) -> bool:
        """Speech was heard and then `trailing_silence_s` of silence."""
        return (
            self.heard_speech
            and not self._speaking
            and self.silence_s >= self.options.trailing_silence_s
        )

    def feed(self, samples: np.ndarray) -> None:
        """Add 16 kHz mono float32 samples (any length)."""
        import torch

        pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        whole = len(pending) // FRAME * FRAME
        self._pending = pending[whole:]
        if not whole:
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # per thread (OpenMP): the speech model's threads keep theirs
        try:
            with torch.inference_mode():
                for start in range(0, whole, FRAME):
                    frame = torch.from_numpy(pending[start : start + FRAME].copy())
                    self._step(float(self._model(frame, SAMPLE_RATE)))
        finally:
            torch.set_num_threads(threads)

    def _step(self, probability: float) -> None:
        o = self.options
        self.probabilities.append(probability)
        self.frames += 1
        end_s = self.position_s
        frame_s = FRAME / SAMPLE_RATE
        if self._speaking:
            if probability >= o.release:
                self.last_speech_s = end_s
            else:
                self._speaking = False
            return
        if probability >= o.threshold:
            self._run += 1
            if self._run * frame_s >= o.min_speech_s:
                self._speaking = True
                if self.speech_start_s is None:
                    self.speech_start_s = end_s - self._run * frame_s
                self.last_speech_s = end_s
        else:
            self._run = 0

    def speech_span(self, total_s: float) -> tuple[float, float] | None:
        """(start, end) of the speech heard, padded by `pad_s`, within [0, total_s]."""
        if self.speech_start_s is None or self.last_speech_s is None:
            return None
        pad = self.options.pad_s
        return max(0.0, self.speech_start_s - pad), min(total_s, self.last_speech_s + pad)

    def speech_in(self, audio: np.ndarray) -> np.ndarray | None:
        """The padded speech (`speech_span`) cut from `audio`, the 16 kHz samples this detector
        has been fed; None before any speech."""
        span = self.speech_span(len(audio) / SAMPLE_RATE)
        if span is None:
            return None
        return audio[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)]


SCAN_S = 5.0  # long audio is scanned from each end in blocks this long


def speech_bounds(
    samples: np.ndarray, options: VadOptions | None = None, model: Any = None
) -> tuple[float, float] | None:
    """(first speech, end of the last speech) in seconds, unpadded; None when there is none.

    Audio up to 2 * SCAN_S goes through one detector. Longer audio is scanned forward from
    the start until speech begins, and backward from the end in blocks until a block holds
    speech: a minute of dictation costs a few seconds of detection, not a minute's worth.
    """
    detector = SpeechDetector(options, model)
    block = int(SCAN_S * SAMPLE_RATE)
    if len(samples) <= 2 * block:
        detector.feed(samples)
        if detector.speech_start_s is None or detector.last_speech_s is None:
            return None
        return detector.speech_start_s, detector.last_speech_s
    for at in range(0, len(samples), block):
        detector.feed(samples[at : at + block])
        if detector.heard_speech:
            break
    if detector.speech_start_s is None:
        return None
    first = detector.speech_start_s
    end = len(samples)
    while end > first * SAMPLE_RATE:
        begin = max(0, end - block)
        detector.reset()
        detector.feed(samples[begin:end])
        if detector.last_speech_s is not None:
            return first, begin / SAMPLE_RATE + detector.last_speech_s
        end = begin
    return first, first


def trim_to_speech(
    samples: np.ndarray, options: VadOptions | None = None, model: Any = None
) -> np.ndarray | None:
    """The speech in `samples` (16 kHz mono) with `pad_s` around it; None when there is none:
    leading and trailing silence are cut, silence or noise alone gives None."""
    bounds = speech_bounds(samples, options, model)
    if bounds is None:
        return None
    pad = (options or VadOptions()).pad_s
    start = int(max(0.0, bounds[0] - pad) * SAMPLE_RATE)
    end = int(min(len(samples) / SAMPLE_RATE, bounds[1] + pad) * SAMPLE_RATE)
    return samples[start:end]
