"""`RemoteSpeechEngine`: speech to text through a server's `/v1/audio/transcriptions` (vLLM
serves Whisper models there), for users who pick it (issue 21); local Whisper stays the
default.

The speech is found here first, with the same voice detector as the local engine (silero-vad),
so silence and noise are never sent and give an empty transcript. The recording goes as a
16 kHz mono WAV; the request runs on a thread of its own so that `cancel` returns at once.
There is no live text while the user speaks (`partial` gives none): sending the growing
recording every second would load the server for words that are replaced a second later.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from typing import Any

import numpy as np

from desktop_assistant.core.errors import ModelError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.inference.engine import ProgressCallback
from desktop_assistant.inference.speech import SAMPLE_RATE, Transcript, WindowProgress


class RemoteSpeechEngine:
    """A `SpeechToText` over an OpenAI-compatible server."""

    def __init__(self, remote: Remote, api_key: str = "") -> None:
        if not remote.speech_model:
            raise ModelError(
                f"{remote.name} has no speech model set (File → Remote servers…: Speech model)"
            )
        self.remote = remote
        self._api_key = api_key
        self._client: Any = None
        self._vad: Any = None
        self._cancel = threading.Event()

    @property
    def name(self) -> str:
        return f"{self.remote.speech_model} on {self.remote.name}"

    @property
    def is_loaded(self) -> bool:
        return self._client is not None

    def load(self, progress: ProgressCallback | None = None) -> None:
        from desktop_assistant.audio.vad import load_model
        from desktop_assistant.inference.remote import connect

        if progress:
            progress(f"Connecting to {self.remote.name} for speech…")
        client, _ = connect(self.remote, self._api_key, self.remote.speech_model, "speech model")
        self._vad = load_model()
        self._client = client

    def transcribe(
        self, audio: np.ndarray, progress: WindowProgress | None = None, trimmed: bool = False
    ) -> Transcript:
        from desktop_assistant.audio.vad import trim_to_speech

        if self._client is None:
            raise ModelError(f"{self.remote.name} is not connected")
        self._cancel.clear()
        started = time.perf_counter()
        audio_s = len(audio) / SAMPLE_RATE
        speech = audio if trimmed else trim_to_speech(audio, model=self._vad)
        if speech is None or not len(speech):
            return Transcript("", "", audio_s, time.perf_counter() - started)
        text, cancelled = self._send(speech)
        if progress:
            progress(audio_s, audio_s)
        return Transcript(
            text.strip(),
            "",
            audio_s,
            time.perf_counter() - started,
            no_speech_prob=0.0 if text.strip() else 1.0,
            windows=1,
            cancelled=cancelled,
        )

    def _send(self, speech: np.ndarray) -> tuple[str, bool]:
        """The server's text for `speech`, and whether `cancel` cut the wait short."""
        import soundfile as sf

        from desktop_assistant.inference.remote import explain

        wav = io.BytesIO()
        sf.write(wav, speech.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        answer: queue.Queue[tuple[str, Any]] = queue.Queue()
        client, model = self._client, self.remote.speech_model

        def ask() -> None:
            try:
                result = client.audio.transcriptions.create(
                    model=model, file=("speech.wav", wav.getvalue(), "audio/wav")
                )
                answer.put(("text", getattr(result, "text", "") or ""))
            except Exception as err:
                answer.put(("failed", err))

        threading.Thread(target=ask, name="remote-speech", daemon=True).start()
        while not self._cancel.is_set():
            try:
                kind, value = answer.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "failed":
                raise ModelError(explain(value, self.remote, model)) from value
            return value, False
        return "", True

    def partial(self, audio: np.ndarray) -> Transcript:
        return Transcript("", "", len(audio) / SAMPLE_RATE, 0.0)

    def cancel(self) -> None:
        self._cancel.set()

    def unload(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._vad = None
