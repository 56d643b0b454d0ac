"""Decoding one Whisper window (greedy or beam search), and snapping a near-miss to a voice
command.

`decode_window`: log-mel features (padded to 30 s) -> encoder -> a decoding loop with a KV cache,
openai/whisper's recipe: the prompt <|startoftranscript|> <|lang|> <|transcribe|>
<|notimestamps|>, the language read off the first step when it is "auto", special tokens and
the configured `suppress_tokens` never emitted, the no-speech probability taken at the
<|startoftranscript|> position, a stop flag checked per token, and a loop guard (a phrase
repeated three times ends the hypothesis). With `beams` > 1 it is openai/whisper's beam search
(patience 1, no length penalty: the best mean log-probability per token wins): the prompt is
run once, its keys and values are copied to the beams, and every step runs the beams as one
batch. The other finished hypotheses come back as `alternatives`.

`snap_command`: robotic or clipped speech often comes out one sound off ("New cat", "And...",
"Console"). When a short transcript is not a command but resembles a few canonical command
phrases (`core.commands.PHRASES`), or one of the beam's other hypotheses is a whole command,
each is scored by the model itself on the same audio (teacher-forced, in one batch that reuses
the encoder's keys and values); the best one replaces the text only if the model finds it about
as likely as its own words.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from desktop_assistant.inference.compat import with_cache

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MAX_TOKENS = 224
SNAP_MAX_WORDS = 6  # only short utterances can be commands worth snapping
SNAP_MIN_SIMILARITY = 0.5  # spelling similarity to consider a phrase at all
SNAP_CANDIDATES = 3
SNAP_MARGIN = 0.35  # nats per token the command may score below the model's own words
# A command found by snapping or after the command words is taken at once when it is this
# close (difflib ratio) to the words first heard, else asked about. Measured with whisper-base
# on speech-dev and the tuning half of the paraphrase audio: all 20 at 0.8 or more were right;
# the 3 wrong ones were at 0.23-0.47, among 23 right ones at 0.3-0.75.
SAME_WORDS = 0.75


@dataclass(frozen=True)
class WindowResult:
    text: str
    language: str
    no_speech_prob: float
    avg_logprob: float
    cancelled: bool
    tokens: tuple[int, ...] = ()
    prompt: tuple[int, ...] = ()
    # the beam's other finished hypotheses, best first: (text, mean log-probability per token)
    alternatives: tuple[tuple[str, float], ...] = ()
    state: Any = field(default=None, repr=False, compare=False)  # (encoder out, cache)

    def with_text(self, text: str) -> WindowResult:
        return replace(self, text=text)


def encode(engine: Any, piece: np.ndarray, whole: bool = False) -> Any:
    """The encoder's output for a window. Whisper is trained on 30 s windows; with
    `engine.encoder_s` set (and not `whole`), a short piece is encoded over only that many
    seconds (plus the piece), which is proportionally faster (whisper.cpp's audio_ctx)."""
    features = engine.processor.feature_extractor(
        piece, sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    encoder = engine.model.model.encoder
    seconds = None if whole else getattr(engine, "encoder_s", None)
    if not seconds:
        return encoder(features).last_hidden_state
    import torch.nn.functional as F

    frames = min(features.shape[-1], int((len(piece) / SAMPLE_RATE + seconds) * 100) // 2 * 2)
    x = F.gelu(encoder.conv1(features[:, :, :frames]))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    hidden = x + encoder.embed_positions.weight[: x.shape[1]]
    for layer in encoder.layers:
        hidden = layer(hidden, None)
    return encoder.layer_norm(hidden)


def _logits(engine: Any, ids: Any, encoded: Any, cache: Any) -> Any:
    """The decoder's logits at every position of `ids` (rows of token ids, a list of lists or
    a tensor) after what `cache` holds: (rows, len(row), vocab)."""
    import torch

    out = engine.model.model.decoder(
        input_ids=torch.as_tensor(ids),
        encoder_hidden_states=encoded,
        use_cache=True,
        **with_cache(cache),
    )
    return engine.model.proj_out(out.last_hidden_state).float()


def decode_window(
    engine: Any,
    piece: np.ndarray,
    language: str,
    cancel: threading.Event,
    context: list[int] | None = None,
    beams: int = 1,
    choose_language: Callable[[dict[str, float]], str] | None = None,
    encoded: Any = None,
) -> WindowResult:
    """Transcript of one window (at most 30 s) of 16 kHz mono audio, greedy or with `beams`
    hypotheses. `context`: text tokens given as "previous text" (<|startofprev|>), which biases
    the words chosen. With `language` "auto", `choose_language` picks the language from
    Whisper's probabilities for each (default: the likeliest). `encoded`: the encoder's
    output for `piece` when it is already known (a second decode of the same audio)."""
    trimmed = encoded is None and bool(getattr(engine, "encoder_s", None))
    if encoded is None:
        encoded = encode(engine, piece)
    result = _decode_encoded(
        engine, piece, language, cancel, context, beams, choose_language, encoded
    )
    if trimmed and not result.cancelled and repeats(result.text):
        # A trimmed encoding can make the decoder loop ("Clear the image Clear the image",
        # seen on an AVX2-only CPU in fp32 as in int8): decode again over the whole 30 s
        # window Whisper is trained on, which does not (openai/whisper's fallback, for
        # short windows where its compression-ratio test cannot tell).
        log.info(
            "repeated words from a trimmed window (%r): decoding the whole window", result.text
        )
        again = _decode_encoded(
            engine, piece, language, cancel, context, beams, choose_language,
            encode(engine, piece, whole=True),
        )  # fmt: skip
        if not repeats(again.text) or len(again.text) < len(result.text):
            return again
    return result


def repeats(text: str) -> bool:
    """Whether the text says the same two or more words twice in a row (a decoder loop;
    "words, words" or "bye bye" alone are speech)."""
    words = re.findall(r"[\w']+", text.lower())
    for size in range(2, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False


def _decode_encoded(
    engine: Any,
    piece: np.ndarray,
    language: str,
    cancel: threading.Event,
    context: list[int] | None,
    beams: int,
    choose_language: Callable[[dict[str, float]], str] | None,
    encoded: Any,
) -> WindowResult:
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    tokens = engine.tokens
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    before = [tokens.start_of_prev, *context] if context and tokens.start_of_prev else []
    if tokens.multilingual and language == "auto":
        first = _logits(engine, [[*before, tokens.sot]], encoded, cache)[0, -1]
        codes = list(tokens.languages)
        ids = torch.tensor([tokens.languages[c] for c in codes])
        probs = torch.softmax(first[ids].float(), -1).tolist()
        if choose_language is None:
            language = codes[int(first[ids].argmax())]
        else:
            language = choose_language(dict(zip(codes, probs, strict=True)))
        prompt = before + tokens.prompt(language)
        at_sot = first
        logits = _logits(engine, [prompt[len(before) + 1 :]], encoded, cache)[0, -1]
    else:
        prompt = before + tokens.prompt(language)
        all_logits = _logits(engine, [prompt], encoded, cache)[0]
        at_sot, logits = all_logits[len(before)], all_logits[-1]
        if not tokens.multilingual:
            language = "en"
    no_speech = 0.0
    if tokens.no_speech is not None:
        no_speech = float(torch.softmax(at_sot, -1)[tokens.no_speech])
    blocked = torch.zeros(logits.shape[-1], dtype=torch.bool)
    blocked[tokens.eot + 1 :] = True
    blocked[[t for t in tokens.suppress if t < len(blocked)]] = True
    first_blocked = blocked.clone()
    first_blocked[[t for t in tokens.begin_suppress if t < len(blocked)]] = True
    # ~3 tokens a word, 4 words a second at most: more than this is a loop
    longest = min(MAX_TOKENS, int(12 + 12 * len(piece) / SAMPLE_RATE))
    masks = (blocked, first_blocked)
    if beams > 1:
        found = _beam_search(engine, logits, masks, encoded, cache, longest, cancel, beams)
    else:
        found = _greedy(engine, logits, masks, encoded, cache, longest, cancel)
    (out, logps), cancelled = found.best, found.cancelled
    decode = tokens.tokenizer.decode
    return WindowResult(
        text=decode(out, skip_special_tokens=True).strip(),
        language=language,
        no_speech_prob=no_speech,
        avg_logprob=_mean(logps),
        cancelled=cancelled,
        tokens=tuple(out),
        prompt=tuple(prompt),
        alternatives=tuple(
            (decode(seq, skip_special_tokens=True).strip(), _mean(lp)) for seq, lp in found.others
        ),
        state=(encoded, cache),
    )


Hypothesis = tuple[list[int], list[float]]  # tokens, and the log-probability of each
# (plus the end of text's, when it ended there)


@dataclass
class _Found:
    best: Hypothesis
    others: list[Hypothesis]
    cancelled: bool


def _mean(logps: list[float]) -> float:
    return sum(logps) / len(logps) if logps else 0.0


def _greedy(
    engine: Any,
    logits: Any,
    masks: tuple[Any, Any],
    encoded: Any,
    cache: Any,
    longest: int,
    cancel: threading.Event,
) -> _Found:
    import torch

    eot = engine.tokens.eot
    out: list[int] = []
    logps: list[float] = []
    for step in range(longest):
        if cancel.is_set():
            return _Found((out, logps), [], True)
        logprobs = torch.log_softmax(logits.masked_fill(masks[step == 0], -float("inf")), -1)
        token = int(logprobs.argmax())
        logps.append(float(logprobs[token]))
        if token == eot:
            break
        out.append(token)
        if _looping(out):
            del logps[len(out) :]
            break
        logits = _logits(engine, [[token]], encoded, cache)[0, -1]
    return _Found((out, logps), [], False)


def _beam_search(
    engine: Any,
    logits: Any,
    masks: tuple[Any, Any],
    encoded: Any,
    cache: Any,
    longest: int,
    cancel: threading.Event,
    beams: int,
) -> _Found:
    """openai/whisper's BeamSearchDecoder with patience 1: each step keeps the `beams` best
    unfinished hypotheses among every beam's continuations; a hypothesis that ends (or loops)
    is set aside; the search stops when `beams` have ended. Best = highest mean log-probability
    per token. The cache of the batch-1 prompt is copied to the beams once (`_to_beams`)."""
    import torch

    eot = engine.tokens.eot
    live: list[Hypothesis] = [([], [])]
    sums = torch.zeros(1)
    finished: list[Hypothesis] = []
    cancelled = False
    step_logits = logits[None]
    for step in range(longest):
        if cancel.is_set():
            cancelled = True
            break
        masked = step_logits.masked_fill(masks[step == 0], -float("inf"))
        scores = (sums[:, None] + torch.log_softmax(masked, -1)).view(-1)
        values, indices = scores.topk(min(2 * beams, len(scores)))
        vocab, before = step_logits.shape[-1], sums.tolist()
        kept: list[Hypothesis] = []
        kept_sums: list[float] = []
        sources: list[int] = []
        for value, index in zip(values.tolist(), indices.tolist(), strict=True):
            if value == -float("inf"):
                break
            source, token = divmod(index, vocab)
            tokens, logps = live[source]
            logps = [*logps, value - before[source]]
            if token == eot:
                if len(finished) < beams:
                    finished.append((tokens, logps))
                continue
            tokens = [*tokens, token]
            if _looping(tokens):  # cut to one copy of the phrase, and end it there
                if len(finished) < beams:
                    finished.append((tokens, logps[: len(tokens)]))
                continue
            kept.append((tokens, logps))
            kept_sums.append(value)
            sources.append(source)
            if len(kept) == beams:
                break
        if len(finished) >= beams or not kept:
            break
        if step == 0:
            _to_beams(cache, len(kept))
            encoded = encoded.expand(len(kept), -1, -1)
        else:
            cache.self_attention_cache.reorder_cache(torch.tensor(sources))
        live, sums = kept, torch.tensor(kept_sums)
        step_logits = _logits(engine, [[tokens[-1]] for tokens, _ in live], encoded, cache)[:, -1]
    if len(finished) < beams or cancelled:  # out of steps (or cut short): take them as they are
        finished += [h for h in live if h[0] or not cancelled]
    ranked = sorted(finished, key=lambda h: -_mean(h[1]))
    if not ranked:
        return _Found(([], []), [], cancelled)
    return _Found(ranked[0], ranked[1:], cancelled)


def _to_beams(cache: Any, beams: int) -> None:
    """Copy a batch-1 decoder cache to `beams` rows: the prompt's keys and values, and the
    cross-attention ones (views, not copies: they never change; `shared_kv_attention` reads
    them once for all the beams)."""
    cache.self_attention_cache.batch_repeat_interleave(beams)
    for layer in cache.cross_attention_cache.layers:
        layer.keys = layer.keys.expand(beams, -1, -1, -1)
        layer.values = layer.values.expand(beams, -1, -1, -1)


SHARED_KV_ATTENTION = "desktop_assistant_shared_kv"


def shared_kv_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, Any]:
    """transformers' sdpa attention, except where every row of the batch attends to the same
    keys and values (the beams' cross-attention to the audio: views of one row, stride 0).
    There the beams' queries go into one batch-1 call as if they were positions of one
    sequence, so the encoder's keys and values are read once a step instead of once per beam
    (a 30 s window: 13 of a step's 21 ms were cross-attention with 5 beams)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch = query.shape[0]
    if batch > 1 and attention_mask is None and key.stride(0) == 0 and value.stride(0) == 0:
        _, heads, length, dim = query.shape
        merged = query.transpose(0, 1).reshape(1, heads, batch * length, dim)
        out, weights = sdpa_attention_forward(
            module, merged, key[:1], value[:1], None, **{**kwargs, "is_causal": False}
        )
        return out.reshape(batch, length, heads, dim), weights
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def use_shared_kv_attention(model: Any) -> None:
    """Run `model`'s attention through `shared_kv_attention`, with sdpa's attention masks.

    The mask must be registered too: transformers builds no mask for an attention name it does
    not know, and sdpa then falls back to `is_causal`, which lines the queries up with the
    first keys. Several new tokens after a cached prefix (the prompt after the language was
    detected from <|startoftranscript|> alone) then each saw one token too few, and every
    clip transcribed with the language on auto came out as garbage ("Now Now Now Now Now")."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(SHARED_KV_ATTENTION, shared_kv_attention)
    AttentionMaskInterface.register(SHARED_KV_ATTENTION, sdpa_mask)
    model.set_attn_implementation(SHARED_KV_ATTENTION)


def _looping(out: list[int]) -> bool:
    """The same phrase three times in a row at the end: cut to one copy, stop."""
    for n in range(2, min(24, len(out) // 3) + 1):
        if out[-n:] == out[-2 * n : -n] == out[-3 * n : -2 * n]:
            del out[-2 * n :]
            return True
    return False


def said_twice(text: str) -> str:
    """A command said once and then again (or begun again): "copy the last answer, copy the
    last answer," -> "copy the last answer". Decoded after the comma-separated list of
    commands (`command_context`), a small model sometimes goes on with the list."""
    from desktop_assistant.core.commands import clean, parse_command

    first, *rest = re.split(r"(?<=[,;])\s*", text.strip())
    head = clean(first)
    if not any(clean(part) for part in rest) or not head or parse_command(first) is None:
        return text  # said once (perhaps with a trailing comma)
    if all(head.startswith(clean(part)) for part in rest):  # "" (a trailing comma) included
        return first.rstrip(",; ")
    return text


def snap_command(engine: Any, window: WindowResult) -> str:
    """The window's text, or the command phrase it nearly is (see the module doc)."""
    from desktop_assistant.core.commands import PHRASES, clean, parse_command

    text = said_twice(window.text)
    said = clean(text)
    if not said or len(said.split()) > SNAP_MAX_WORDS or parse_command(text) is not None:
        return text
    ranked = sorted(((_alike(said, p), p) for ps in PHRASES.values() for p in ps), reverse=True)
    phrases = [p for score, p in ranked[:SNAP_CANDIDATES] if score >= SNAP_MIN_SIMILARITY]
    forms = [f" {p[0].upper()}{p[1:]}" + end for p in phrases for end in ("", ".")]
    heard = [f" {alt}" for alt, _ in window.alternatives if parse_command(alt) is not None]
    forms += heard[:SNAP_CANDIDATES]
    if not forms:
        return text
    scores = score_texts(engine, window, [" " + text, *forms])
    own, best = scores[0], max(range(len(forms)), key=lambda i: scores[i + 1])
    if scores[best + 1] >= own - SNAP_MARGIN:
        return forms[best].strip()
    return text


def nearly_same(heard: str, command: str) -> bool:
    """Whether a command found by snapping or after the command list is nearly the words
    first heard (`SAME_WORDS`)."""
    from desktop_assistant.core.commands import clean

    return _alike(clean(heard), clean(command)) >= SAME_WORDS


def _alike(a: str, b: str) -> float:
    """How alike two cleaned texts are spelled (difflib's ratio, 0 to 1)."""
    return difflib.SequenceMatcher(None, a, b).ratio()


def score_texts(engine: Any, window: WindowResult, texts: list[str]) -> list[float]:
    """Mean log-probability per token (end of text included) of each text on the window's
    audio, in one batch that reuses the encoder's cross-attention keys and values."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    tokens = engine.tokens
    encoded, greedy_cache = window.state
    seqs = [tokens.tokenizer.encode(t, add_special_tokens=False) + [tokens.eot] for t in texts]
    prompt = list(window.prompt)
    width = len(prompt) + max(len(s) for s in seqs)
    batch = torch.full((len(seqs), width), tokens.eot, dtype=torch.long)
    for i, seq in enumerate(seqs):
        batch[i, : len(prompt) + len(seq)] = torch.tensor(prompt + seq)
    cross_old = greedy_cache.cross_attention_cache
    cross = DynamicCache()
    for i, layer in enumerate(cross_old.layers):
        keys, values = layer.keys[:1], layer.values[:1]  # the window may have been beamed
        cross.update(keys.expand(len(seqs), -1, -1, -1), values.expand(len(seqs), -1, -1, -1), i)
    cache = EncoderDecoderCache(DynamicCache(), cross)
    for i in range(len(cross_old.layers)):
        cache.is_updated[i] = True
    with torch.inference_mode():
        logits = _logits(engine, batch, encoded.expand(len(seqs), -1, -1), cache)
    logprobs = torch.log_softmax(logits, -1)
    scores = []
    for i, seq in enumerate(seqs):
        positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(seq))
        picked = logprobs[i, positions, torch.tensor(seq)]
        scores.append(float(picked.mean()))
    return scores
