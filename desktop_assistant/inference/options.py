"""Options for and results of one generated reply, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class GenerationOptions:
    max_new_tokens: int = 512  # longest reply, in tokens
    temperature: float = 0.7  # 0 means greedy (always the likeliest token)
    top_p: float = 0.9  # nucleus sampling mass; 1.0 disables
    top_k: int = 40  # sample among the k likeliest tokens; 0 disables
    repetition_penalty: float = 1.05  # > 1 discourages repeats; 1.0 disables
    seed: int | None = None  # fixed seed for reproducible sampling; None: random
    high_detail: bool = False  # vision models: split big images into tiles (slower, finer)
    # ids of the stored documents the question is about: the window's chat worker puts their
    # relevant passages in front of it (issue 22); engines themselves ignore this
    documents: tuple[int, ...] = ()
    # passages given with earlier questions of the conversation, numbered [1], [2]... in order
    given_passages: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must not be negative")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must not be negative")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be positive")

    @classmethod
    def from_settings(cls, settings: Any) -> GenerationOptions:
        seed = settings.get("seed")
        return cls(
            max_new_tokens=settings.get("max_new_tokens"),
            temperature=settings.get("temperature"),
            top_p=settings.get("top_p"),
            top_k=settings.get("top_k"),
            repetition_penalty=settings.get("repetition_penalty"),
            seed=None if seed < 0 else seed,
        )


@dataclass(frozen=True)
class ReplyStats:
    prompt_tokens: int  # tokens of the prompt the model read
    new_tokens: int  # tokens generated
    ttft_s: float  # seconds from the request to the first new token
    decode_tok_s: float  # new tokens per second after the first one
    total_s: float  # seconds from the request to the end
    stopped: bool = False  # True when the user stopped the reply early
    cached_tokens: int = 0  # prompt tokens reused from the previous turn's KV cache
    precision: str = ""  # weights precision the model ran in (int4, int8, bf16, fp32)
    dropped_messages: int = 0  # oldest messages left out to fit the model's context window
    image_tokens: int = 0  # prompt tokens that stand for images
    preprocess_s: float = 0.0  # seconds opening, checking and resizing images
    vision_s: float = 0.0  # seconds in the vision encoder (0 when its output was reused)

    @classmethod
    def from_saved(cls, saved: dict[str, Any] | None) -> ReplyStats | None:
        """The figures stored with an answer (`dataclasses.asdict` of one), or None when
        there are none; keys from other versions are left out, missing ones default."""
        if not saved:
            return None
        known = {f.name for f in fields(cls)} & saved.keys()
        try:
            return cls(**{name: saved[name] for name in known})
        except TypeError:  # an old row without the figures every reply has
            return None


@dataclass(frozen=True)
class Reply:
    text: str
    stats: ReplyStats
