"""The generation loop: chunked prefill over a kept KV cache, then one token at a time.

Our own loop rather than `model.generate` (gpt-fast's shape: prefill / decode_one_token / a
loop with a callback) because it lets us:
- keep the conversation's KV cache between turns: a follow-up only prefills new tokens. The
  cache is reused up to the longest common prefix of token ids, which also handles edits,
  regeneration, trimmed history and changed system prompts without special cases;
- prefill a long prompt in chunks, checking Stop between chunks;
- stop within one token and avoid `generate`'s per-call and per-step set-up work.
Sampling uses transformers' public logits processors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop_assistant.inference.compat import with_cache
from desktop_assistant.inference.options import GenerationOptions

PREFILL_CHUNK = 256  # tokens per prefill step: Stop is checked between chunks


@dataclass
class PromptCache:
    """The KV cache of the tokens in `ids`, kept between turns."""

    cache: Any = None
    ids: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.cache, self.ids = None, []

    def reusable(self, prompt: Sequence[int]) -> int:
        """How many leading prompt tokens are already in the cache (never all of them)."""
        n, limit = 0, min(len(self.ids), len(prompt) - 1)
        while n < limit and self.ids[n] == prompt[n]:
            n += 1
        return n


@dataclass
class DecodeResult:
    new_tokens: int
    prefilled: int  # prompt tokens computed this time
    reused: int  # prompt tokens taken from the cache
    first_token_at: float | None
    cancelled: bool


def _processors(options: GenerationOptions) -> Any:
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if options.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(options.repetition_penalty))
    if options.temperature > 0:
        procs.append(TemperatureLogitsWarper(options.temperature))
        if options.top_k:
            procs.append(TopKLogitsWarper(options.top_k))
        if options.top_p < 1.0:
            procs.append(TopPLogitsWarper(options.top_p))
    return procs


def _forward(model: Any, ids: Sequence[int], cache: Any) -> Any:
    import torch

    out = model(
        input_ids=torch.tensor([list(ids)], dtype=torch.long),
        use_cache=True,
        logits_to_keep=1,
        **with_cache(cache),
    )
    return out.logits[:, -1, :]


def generate_tokens(
    model: Any,
    prompt: Sequence[int],
    prompt_cache: PromptCache,
    options: GenerationOptions,
    max_new: int,
    stop_ids: Sequence[int],
    on_token: Callable[[int], bool],
    cancel: threading.Event,
    on_first_token: Callable[[], None] | None = None,
) -> DecodeResult:
    """Generate after `prompt`; `on_token` returns True to end the reply (a stop marker)."""
    import torch
    from transformers import DynamicCache

    reused = prompt_cache.reusable(prompt) if prompt_cache.cache is not None else 0
    if reused == 0:
        prompt_cache.cache = DynamicCache(config=model.config)
        prompt_cache.ids = []
    else:
        drop = len(prompt_cache.ids) - reused
        if drop:
            prompt_cache.cache.crop(-drop)  # transformers 5: a negative count removes tokens
        prompt_cache.ids = prompt_cache.ids[:reused]
    cache = prompt_cache.cache
    todo = list(prompt[reused:])
    logits = None
    try:
        for start in range(0, len(todo), PREFILL_CHUNK):
            if cancel.is_set():
                return DecodeResult(0, start, reused, None, True)
            chunk = todo[start : start + PREFILL_CHUNK]
            logits = _forward(model, chunk, cache)
            prompt_cache.ids.extend(chunk)
        assert logits is not None
        processors = _processors(options)
        history = torch.tensor([list(prompt)], dtype=torch.long)
        stops = set(stop_ids)
        first_at: float | None = None
        new = 0
        while True:
            scores = processors(history, logits.float()) if processors else logits
            if options.temperature > 0:
                probs = torch.softmax(scores.float(), dim=-1)
                token = int(torch.multinomial(probs, num_samples=1)[0, 0])
            else:
                token = int(torch.argmax(scores, dim=-1)[0])
            new += 1
            if first_at is None:
                first_at = time.perf_counter()
                if on_first_token is not None:
                    on_first_token()
            if token in stops or cancel.is_set():
                break
            if on_token(token) or cancel.is_set() or new >= max_new:
                break
            logits = _forward(model, (token,), cache)
            prompt_cache.ids.append(token)
            if processors:
                history = torch.cat([history, torch.tensor([[token]])], dim=1)
        return DecodeResult(new, len(todo), reused, first_at, cancel.is_set())
    except BaseException:
        prompt_cache.reset()  # a half-written cache must not be reused
        raise
