"""What the local engines share: the model folder they were given, loaded or not, the cancel
flag any thread may set, the context length read from a config, and the reply's timings."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from desktop_assistant.inference.options import ReplyStats

DEFAULT_CONTEXT = 2048  # when a config names no context length
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length")


class LocalEngine:
    """A model from a local folder, owned by one thread: `load`, `generate` (or
    `transcribe`) and `unload` run there; `cancel` may be called from any thread."""

    def __init__(self, model_path: str | Path, threads: int = 0) -> None:
        self.model_path = Path(model_path).expanduser()
        self.threads = threads  # 0: one per physical core
        self._model: Any = None
        self._precision = ""
        self._cancel = threading.Event()

    @property
    def name(self) -> str:
        return self.model_path.name or str(self.model_path)

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def model(self) -> Any:
        """The loaded torch model (None before `load`), for benchmarks and decoders that run
        it directly; only on the engine's own thread."""
        return self._model

    def cancel(self) -> None:
        self._cancel.set()


class LocalChatEngine(LocalEngine):
    """What the text and the vision chat engines share: the precision asked for, our own
    forward or transformers', the stop tokens, and the context length once loaded."""

    def __init__(
        self,
        model_path: str | Path,
        precision: str = "auto",
        threads: int = 0,
        own_forward: bool = True,
    ) -> None:
        super().__init__(model_path, threads)
        self.requested_precision = precision
        self.own_forward = own_forward  # llama_forward where it applies, else transformers'
        self._stop_ids: list[int] = []
        self._bf16 = False  # bf16 weights: oneDNN for the prefill only (runtime.py)
        self.context_tokens = DEFAULT_CONTEXT
        self._set_up()

    def _set_up(self) -> None:
        """The engine's own state, made at the end of __init__ (subclasses)."""


def context_length(config: Any) -> int:
    """The longest prompt plus reply a (text) config allows."""
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT


def reply_stats(
    started: float, first_token_at: float | None, new_tokens: int, **fields: Any
) -> ReplyStats:
    """A reply's timings, taken now: first token (or now, when none came), decode speed over
    the tokens after the first, total; `fields` are the rest of ReplyStats."""
    ended = time.perf_counter()
    first = first_token_at or ended
    decode_s = ended - first
    return ReplyStats(
        new_tokens=new_tokens,
        ttft_s=first - started,
        decode_tok_s=(new_tokens - 1) / decode_s if new_tokens > 1 and decode_s > 0 else 0.0,
        total_s=ended - started,
        **fields,
    )
