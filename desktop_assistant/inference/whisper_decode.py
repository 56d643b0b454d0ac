"""Decoding one Whisper window greedily, and snapping a near-miss to a voice command.

`decode_window`: log-mel features (padded to 30 s) -> encoder -> a greedy loop with a KV cache,
openai/whisper's recipe: the prompt <|startoftranscript|> <|lang|> <|transcribe|>
<|notimestamps|>, the language read off the first step when it is "auto", special tokens and
the configured `suppress_tokens` never emitted, the no-speech probability taken at the
<|startoftranscript|> position, a stop flag checked per token, and a loop guard (a phrase
repeated three times ends the window).

`snap_command`: robotic or clipped speech often comes out one sound off ("New cat", "And...",
"Console"). When a short transcript is not a command but resembles a few canonical command
phrases (`core.commands.PHRASES`), each is scored by the model itself on the same audio
(teacher-forced, in one batch that reuses the encoder's keys and values); the best one
replaces the text only if the model finds it about as likely as its own words.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
MAX_TOKENS = 224
SNAP_MAX_WORDS = 6  # only short utterances can be commands worth snapping
SNAP_MIN_SIMILARITY = 0.5  # spelling similarity to consider a phrase at all
SNAP_CANDIDATES = 3
SNAP_MARGIN = 0.35  # nats per token the command may score below the model's own words


@dataclass(frozen=True)
class WindowResult:
    text: str
    language: str
    no_speech_prob: float
    avg_logprob: float
    cancelled: bool
    tokens: tuple[int, ...] = ()
    prompt: tuple[int, ...] = ()
    state: Any = field(default=None, repr=False, compare=False)  # (encoder out, cache)

    def with_text(self, text: str) -> WindowResult:
        return replace(self, text=text)


def encode(engine: Any, piece: np.ndarray) -> Any:
    """The encoder's output for a window. Whisper is trained on 30 s windows; with
    `engine.encoder_s` set, a short piece is encoded over only that many seconds (plus the
    piece), which is proportionally faster (whisper.cpp's audio_ctx)."""
    features = engine._processor.feature_extractor(
        piece, sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    encoder = engine._model.model.encoder
    seconds = getattr(engine, "encoder_s", None)
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


def _logits(engine: Any, ids: list[int], encoded: Any, cache: Any) -> Any:
    import torch

    out = engine._model.model.decoder(
        input_ids=torch.tensor([ids]),
        encoder_hidden_states=encoded,
        past_key_values=cache,
        use_cache=True,
    )
    return engine._model.proj_out(out.last_hidden_state)[0].float()  # (len(ids), vocab)


def decode_window(
    engine: Any,
    piece: np.ndarray,
    language: str,
    cancel: threading.Event,
    context: list[int] | None = None,
) -> WindowResult:
    """Greedy transcript of one window (at most 30 s) of 16 kHz mono audio. `context`: text
    tokens given as "previous text" (<|startofprev|>), which biases the words chosen."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    tokens = engine._tokens
    encoded = encode(engine, piece)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    before = [tokens.start_of_prev, *context] if context and tokens.start_of_prev else []
    if tokens.multilingual and language == "auto":
        first = _logits(engine, [*before, tokens.sot], encoded, cache)[-1]
        codes = list(tokens.languages)
        ids = torch.tensor([tokens.languages[c] for c in codes])
        language = codes[int(first[ids].argmax())]
        prompt = before + tokens.prompt(language)
        at_sot = first
        logits = _logits(engine, prompt[len(before) + 1 :], encoded, cache)[-1]
    else:
        prompt = before + tokens.prompt(language)
        all_logits = _logits(engine, prompt, encoded, cache)
        at_sot, logits = all_logits[len(before)], all_logits[-1]
        if not tokens.multilingual:
            language = "en"
    no_speech = 0.0
    if tokens.no_speech is not None:
        no_speech = float(torch.softmax(at_sot, -1)[tokens.no_speech])
    blocked = torch.zeros(logits.shape[-1], dtype=torch.bool)
    blocked[tokens.eot + 1 :] = True
    blocked[[t for t in tokens.suppress if t < len(blocked)]] = True
    out: list[int] = []
    total = 0.0
    cancelled = False
    # ~3 tokens a word, 4 words a second at most: more than this is a loop
    longest = min(MAX_TOKENS, int(12 + 12 * len(piece) / SAMPLE_RATE))
    for step in range(longest):
        if cancel.is_set():
            cancelled = True
            break
        logits = logits.masked_fill(blocked, -float("inf"))
        if step == 0:
            logits[tokens.begin_suppress] = -float("inf")
        logprobs = torch.log_softmax(logits, -1)
        token = int(logprobs.argmax())
        total += float(logprobs[token])
        if token == tokens.eot:
            break
        out.append(token)
        if _looping(out):
            break
        logits = _logits(engine, [token], encoded, cache)[-1]
    text = tokens.tokenizer.decode(out, skip_special_tokens=True).strip()
    return WindowResult(
        text=text,
        language=language,
        no_speech_prob=no_speech,
        avg_logprob=total / (len(out) + 1),
        cancelled=cancelled,
        tokens=tuple(out),
        prompt=tuple(prompt),
        state=(encoded, cache),
    )


def _looping(out: list[int]) -> bool:
    """The same phrase three times in a row at the end: cut to one copy, stop."""
    for n in range(2, min(24, len(out) // 3) + 1):
        if out[-n:] == out[-2 * n : -n] == out[-3 * n : -2 * n]:
            del out[-2 * n :]
            return True
    return False


def snap_command(engine: Any, window: WindowResult) -> str:
    """The window's text, or the command phrase it nearly is (see the module doc)."""
    from desktop_assistant.core.commands import PHRASES, clean, parse_command

    text = window.text
    said = clean(text)
    if not said or len(said.split()) > SNAP_MAX_WORDS or parse_command(text) is not None:
        return text
    ranked = sorted(
        (
            (difflib.SequenceMatcher(None, said, p).ratio(), p)
            for ps in PHRASES.values()
            for p in ps
        ),
        reverse=True,
    )
    phrases = [p for score, p in ranked[:SNAP_CANDIDATES] if score >= SNAP_MIN_SIMILARITY]
    if not phrases:
        return text
    forms = [f" {p[0].upper()}{p[1:]}" + end for p in phrases for end in ("", ".")]
    scores = score_texts(engine, window, [" " + text, *forms])
    own, best = scores[0], max(range(len(forms)), key=lambda i: scores[i + 1])
    if scores[best + 1] >= own - SNAP_MARGIN:
        return forms[best].strip()
    return text


def score_texts(engine: Any, window: WindowResult, texts: list[str]) -> list[float]:
    """Mean log-probability per token (end of text included) of each text on the window's
    audio, in one batch that reuses the encoder's cross-attention keys and values."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    tokens = engine._tokens
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
        cross.update(
            layer.keys.expand(len(seqs), -1, -1, -1), layer.values.expand(len(seqs), -1, -1, -1), i
        )
    cache = EncoderDecoderCache(DynamicCache(), cross)
    for i in range(len(cross_old.layers)):
        cache.is_updated[i] = True
    out = engine._model.model.decoder(
        input_ids=batch,
        encoder_hidden_states=encoded.expand(len(seqs), -1, -1),
        past_key_values=cache,
        use_cache=True,
    )
    logprobs = torch.log_softmax(engine._model.proj_out(out.last_hidden_state).float(), -1)
    scores = []
    for i, seq in enumerate(seqs):
        positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(seq))
        picked = logprobs[i, positions, torch.tensor(seq)]
        scores.append(float(picked.mean()))
    return scores
