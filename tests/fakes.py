"""Fakes that implement the real Protocols, for tests only."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from desktop_assistant.core.conversation import Message
from desktop_assistant.inference.engine import TextCallback
from desktop_assistant.inference.options import GenerationOptions, Reply, ReplyStats


class FakeChatEngine:
    """A `ChatEngine` that streams scripted tokens and honours cancel.

    `load_gate`: load waits until the test sets it. `delay_s`: time per token (an Event wait,
    so cancel cuts it short). `load_error` / `generate_error`: raised by load / generate.
    """

    def __init__(
        self,
        tokens: Sequence[str] | None = None,
        delay_s: float = 0.0,
        load_gate: threading.Event | None = None,
        load_error: Exception | None = None,
        generate_error: Exception | None = None,
        name: str = "fake-model",
    ) -> None:
        self.tokens = list(tokens if tokens is not None else [f"word{i} " for i in range(20)])
        self.delay_s = delay_s
        self.load_gate = load_gate
        self.load_error = load_error
        self.generate_error = generate_error
        self._name = name
        self._loaded = False
        self._cancel = threading.Event()
        self.calls: list[list[Message]] = []
        self.emitted: list[str] = []
        self.emitted_after_cancel = 0
        self.cancelled = threading.Event()
        self.generating = threading.Event()

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    @property
    def precision(self) -> str:
        return "fake4"

    def load(self, progress=None) -> None:
        if progress is not None:
            progress("Preparing the fake model…")
        if self.load_gate is not None:
            self.load_gate.wait(30)
        if self.load_error is not None:
            raise self.load_error
        self._loaded = True

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions, on_text: TextCallback
    ) -> Reply:
        self._cancel.clear()
        self.calls.append(list(messages))
        self.generating.set()
        if self.generate_error is not None:
            raise self.generate_error
        started = time.perf_counter()
        out: list[str] = []
        for token in self.tokens[: options.max_new_tokens]:
            if self.delay_s and self._cancel.wait(self.delay_s):
                break
            if self._cancel.is_set():
                break
            out.append(token)
            self.emitted.append(token)
            on_text(token)
        elapsed = time.perf_counter() - started
        stats = ReplyStats(
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            new_tokens=len(out),
            ttft_s=self.delay_s,
            decode_tok_s=len(out) / elapsed if elapsed > 0 else 0.0,
            total_s=elapsed,
            stopped=self._cancel.is_set(),
        )
        return Reply("".join(out), stats)

    def cancel(self) -> None:
        self._cancel.set()
        self.cancelled.set()

    def unload(self) -> None:
        self._loaded = False


class FakeSpeechEngine:
    """A `SpeechToText` that "hears" scripted texts, one per transcribe call.

    `partial` returns the next text's first word; `load_error` is raised by load. `delays`:
    seconds the first transcribe calls take (each ends early on `cancel`, as the real one
    stops within a token, and then comes back `cancelled` without using up a text)."""

    def __init__(self, texts: Sequence[str] = ("hello there",), load_error=None, delays=()) -> None:
        self.remembered_language = ""  # what a real engine on auto would have learned
        self.texts = list(texts)
        self.load_error = load_error
        self.delays = list(delays)
        self.heard: list[int] = []  # samples given to each transcribe
        self.trimmed: list[bool] = []  # ...and whether they came cut to their speech
        self.cancels = 0
        self._cancel = threading.Event()
        self._loaded = False

    @property
    def name(self) -> str:
        return "fake-whisper"

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self, progress=None) -> None:
        if self.load_error is not None:
            raise self.load_error
        self._loaded = True

    def transcribe(self, audio, progress=None, trimmed=False):
        from desktop_assistant.inference.speech import Transcript

        self.heard.append(len(audio))
        self.trimmed.append(trimmed)
        self._cancel.clear()
        if self.delays and self._cancel.wait(self.delays.pop(0)):
            return Transcript("", "en", len(audio) / 16_000, 0.01, cancelled=True)
        if progress is not None:
            progress(len(audio) / 16_000, len(audio) / 16_000)
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(
            text, "en", len(audio) / 16_000, 0.01, remembered_language=self.remembered_language
        )

    def partial(self, audio):
        from desktop_assistant.inference.speech import Transcript

        first = self.texts[0].split()[0] if self.texts and self.texts[0] else ""
        return Transcript(first, "en", len(audio) / 16_000, 0.01)

    def cancel(self) -> None:
        self.cancels += 1
        self._cancel.set()

    def unload(self) -> None:
        self._loaded = False


class MemoryKeyring:
    """A system keyring in memory (`keyring.set_keyring(MemoryKeyring())`); `broken`: one
    that fails as a missing backend does (no Secret Service on a bare Linux)."""

    priority = 1

    def __init__(self, broken: bool = False) -> None:
        self.passwords: dict[tuple[str, str], str] = {}
        self.broken = broken

    def _check(self) -> None:
        if self.broken:
            from keyring.errors import NoKeyringError

            raise NoKeyringError("No recommended backend was available.")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if (service, username) not in self.passwords:
            from keyring.errors import PasswordDeleteError

            raise PasswordDeleteError("not found")
        del self.passwords[(service, username)]
