"""The `ChatEngine` Protocol: what the window and the command line need from a chat model.

One engine is owned by one thread. `load`, `generate` and `unload` run on that thread;
`cancel` may be called from any thread and makes a running `generate` return within one token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from desktop_assistant.core.conversation import Message
from desktop_assistant.inference.options import GenerationOptions, Reply

TextCallback = Callable[[str], None]
ProgressCallback = Callable[[str], None]


@runtime_checkable
class ChatEngine(Protocol):
    @property
    def name(self) -> str:
        """Short model name for the status bar."""
        ...

    @property
    def is_loaded(self) -> bool: ...

    @property
    def precision(self) -> str:
        """What the weights run in once loaded (int4, int8, bf16, fp32)."""
        ...

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load the weights; raises `ModelError` with a user-facing message on failure.

        `progress` receives short status lines ("Quantizing to int4 (first time only)…").
        """
        ...

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions, on_text: TextCallback
    ) -> Reply:
        """Stream a reply: `on_text` gets each new piece of text; returns the whole reply.

        A cancelled reply returns normally with `stats.stopped` set.
        """
        ...

    def cancel(self) -> None:
        """Stop the running `generate` within one token. Thread-safe."""
        ...

    def unload(self) -> None:
        """Free the weights."""
        ...
