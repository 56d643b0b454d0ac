"""The Whisper decoding loop on a tiny random Whisper: greedy and beam search agree on their
bookkeeping, beams stop on cancel, and a command among the beam's hypotheses can be snapped to
(words are random; shapes, scores and control flow are not)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from desktop_assistant.audio.files import decode_file
from desktop_assistant.core.commands import parse_command
from desktop_assistant.inference import whisper_decode
from desktop_assistant.inference.speech import WhisperEngine, command_context
from desktop_assistant.inference.whisper_decode import WindowResult, decode_window, snap_command
from tests.fakes_audio import SPEECH_DEV


@pytest.fixture
def engine(tiny_whisper_engine):
    return tiny_whisper_engine


@pytest.fixture(scope="module")
def command_audio() -> np.ndarray:
    return decode_file(SPEECH_DEV / "cmd05_dark_mode.wav")


def _decode(engine, audio, beams, cancel=None, context=None) -> WindowResult:
    with torch.inference_mode():
        return decode_window(engine, audio, "en", cancel or threading.Event(), context, beams)


def _mean_logprobs(engine, window: WindowResult, tokens: tuple[int, ...]) -> list[float]:
    """The mean log-probability per token of `tokens`, teacher-forced with the same masks as the
    search: [ended by the end of text, cut off (a loop, or out of steps)]."""
    t = engine._tokens
    ids = [*window.prompt, *tokens]
    with torch.inference_mode():
        out = engine._model.model.decoder(
            input_ids=torch.tensor([ids]),
            encoder_hidden_states=window.state[0][:1],
        )
        logits = engine._model.proj_out(out.last_hidden_state)[0].float()
    blocked = torch.zeros(logits.shape[-1], dtype=torch.bool)
    blocked[t.eot + 1 :] = True
    blocked[[s for s in t.suppress if s < len(blocked)]] = True
    logps = []
    for i, token in enumerate([*tokens, t.eot]):
        row = logits[len(window.prompt) - 1 + i].masked_fill(blocked, -float("inf"))
        if i == 0:
            row[t.begin_suppress] = -float("inf")
        logps.append(float(torch.log_softmax(row, -1)[token]))
    return [sum(logps) / len(logps), sum(logps[:-1]) / max(1, len(tokens))]


def _is_its_score(engine, window: WindowResult) -> bool:
    means = _mean_logprobs(engine, window, window.tokens)
    return any(abs(window.avg_logprob - m) < 1e-3 * max(1.0, abs(m)) for m in means)


def test_greedy_has_no_alternatives(engine, command_audio):
    window = _decode(engine, command_audio, beams=1)
    assert window.alternatives == () and not window.cancelled
    assert _is_its_score(engine, window)


def test_beam_search_ranks_its_hypotheses(engine, command_audio):
    greedy = _decode(engine, command_audio, beams=1)
    window = _decode(engine, command_audio, beams=4)
    assert not window.cancelled and window.language == "en"
    assert 1 <= len(window.alternatives) <= 3
    scores = [window.avg_logprob] + [score for _, score in window.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(text, str) for text, _ in window.alternatives)
    # the score it reports is the model's own, recomputed from scratch in one pass
    assert _is_its_score(engine, window)
    assert _is_its_score(engine, greedy)


def test_beam_search_with_a_context_and_auto_language(tiny_whisper_dir, command_audio):
    engine = WhisperEngine(tiny_whisper_dir, language="auto", threads=1, precision="fp32")
    engine.load()
    context = engine._processor.tokenizer.encode(" " + command_context(), add_special_tokens=False)
    with torch.inference_mode():
        window = decode_window(engine, command_audio, "auto", threading.Event(), context, 3)
    assert window.language in engine._tokens.languages
    assert window.prompt[0] == engine._tokens.start_of_prev
    assert window.prompt[-1] == engine._tokens.no_timestamps


def test_beam_search_stops_within_a_step_of_cancel(engine, command_audio):
    cancel = threading.Event()
    steps: list[int] = []

    def count(module, args, kwargs, output):
        steps.append(kwargs["input_ids"].shape[0])
        if len(steps) == 3:
            cancel.set()

    hook = engine._model.model.decoder.register_forward_hook(count, with_kwargs=True)
    try:
        window = _decode(engine, command_audio, beams=4, cancel=cancel)
    finally:
        hook.remove()
    assert window.cancelled
    assert len(steps) == 3  # the prompt, then two steps of the beams; none after the cancel
    assert steps[1:] == [4, 4]  # the beams ran as one batch


def test_transcribe_uses_the_beam_for_final_text_only(engine, command_audio, monkeypatch):
    seen: list[int] = []
    real = whisper_decode.decode_window

    def spy(*args, **kwargs):
        seen.append(args[5] if len(args) > 5 else kwargs.get("beams", 1))
        return real(*args, **kwargs)

    monkeypatch.setattr(whisper_decode, "decode_window", spy)
    engine.transcribe(command_audio)  # random words: decoded again after the command list
    engine.partial(command_audio)
    assert seen == [engine.beam_size, engine.beam_size, 1]


def test_short_speech_that_is_no_command_is_decoded_again_with_the_command_words(
    engine, command_audio, monkeypatch
):
    calls: list[tuple] = []
    script: list[str] = []

    def fake(engine_, piece, language, cancel, context=None, beams=1, choose=None, encoded=None):
        calls.append((context, encoded))
        text = script.pop(0)
        return whisper_decode.WindowResult(
            text, "en", 0.0, -0.2, False, state=("encoder output", None)
        )

    monkeypatch.setattr(whisper_decode, "decode_window", fake)
    monkeypatch.setattr(engine, "snap_commands", False)
    script[:] = ["Next chart.", "Next chat."]  # nearly the words heard: taken at once
    transcript = engine.transcribe(command_audio)
    assert transcript.text == "Next chat." and transcript.snapped_from == ""
    assert calls[0] == (None, None)  # first on its own words
    assert calls[1] == (engine._command_context, "encoder output")  # the encoding reused
    script[:] = ["You're dead.", "Go to the next chat."]  # the list's words, not the audio's
    transcript = engine.transcribe(command_audio)
    assert transcript.text == "Go to the next chat." and transcript.snapped_from == "You're dead."
    calls.clear()
    script[:] = ["Stop."]  # a command on its own words: one decode
    assert engine.transcribe(command_audio).text == "Stop." and len(calls) == 1
    script[:] = ["What time is it?", "What time is it?"]  # still no command: its own words
    transcript = engine.transcribe(command_audio)
    assert transcript.text == "What time is it?" and transcript.snapped_from == ""


def test_trimmed_speech_is_not_searched_again(engine, command_audio, monkeypatch):
    searched: list[int] = []
    real = engine._speech_only
    monkeypatch.setattr(engine, "_speech_only", lambda a: searched.append(len(a)) or real(a))
    engine.transcribe(command_audio, trimmed=True)
    assert searched == []
    engine.transcribe(command_audio)
    assert searched == [len(command_audio)]


def test_a_command_among_the_hypotheses_is_snapped_to(engine, command_audio, monkeypatch):
    window = _decode(engine, command_audio, beams=3)
    heard = window.with_text("zebra crossings everywhere")  # resembles no command phrase
    assert parse_command(heard.text) is None
    beamed = WindowResult(**{**heard.__dict__, "alternatives": (("new chat", -9.0),)})
    monkeypatch.setattr(whisper_decode, "SNAP_MARGIN", 1e6)  # any candidate is close enough
    assert snap_command(engine, beamed) == "new chat"
    assert snap_command(engine, heard) == heard.text  # no command heard: nothing to snap to
    monkeypatch.setattr(whisper_decode, "SNAP_MARGIN", -1e6)  # none is
    assert snap_command(engine, beamed) == heard.text


def test_beam_size_must_be_positive(tiny_whisper_dir):
    from desktop_assistant.core.errors import ModelError

    with pytest.raises(ModelError, match="beam size"):
        WhisperEngine(tiny_whisper_dir, beam_size=0)


@pytest.mark.parametrize(
    ("text", "once"),
    [
        ("copy the last answer, copy the last answer,", "copy the last answer"),
        ("Switch to dark mode, switch to dark mode", "Switch to dark mode"),
        ("Delete this conversation, delete", "Delete this conversation"),
        ("stop, stop, stop", "stop"),
        ("read that again,", "read that again,"),  # once, as it is
        ("new chat", "new chat"),  # said once: as it is
        ("scroll up, scroll down", "scroll up, scroll down"),  # two different commands
        ("Stop, I think the stop sign was red.", "Stop, I think the stop sign was red."),
        ("hello, hello", "hello, hello"),  # not a command
    ],
)
def test_a_command_said_twice_counts_once(text, once):
    assert whisper_decode.said_twice(text) == once


def test_beams_read_the_audio_once_with_the_same_result(engine, command_audio):
    """`shared_kv_attention` (the engine's attention) on the beams' shared cross-attention
    keys and values gives what plain sdpa gives on real copies of them."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    def step(implementation: str, copies: bool) -> torch.Tensor:
        engine._model.set_attn_implementation(implementation)
        with torch.inference_mode():
            encoded = whisper_decode.encode(engine, command_audio)
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
            whisper_decode._logits(engine, [engine._tokens.prompt("en")], encoded, cache)
            whisper_decode._to_beams(cache, 4)
            for layer in cache.cross_attention_cache.layers:
                assert layer.keys.stride(0) == 0  # views of one row
                if copies:
                    layer.keys, layer.values = layer.keys.contiguous(), layer.values.contiguous()
            ids = [[300 + i] for i in range(4)]
            return whisper_decode._logits(engine, ids, encoded.expand(4, -1, -1), cache)[:, -1]

    try:
        plain = step("sdpa", copies=True)
        shared = step(whisper_decode.SHARED_KV_ATTENTION, copies=False)
    finally:
        whisper_decode.use_shared_kv_attention(engine._model)
    assert shared.shape == plain.shape == (4, engine._tokens.vocab_size)
    assert torch.allclose(shared, plain, atol=1e-4)
    assert not torch.allclose(shared[0], shared[1])  # the beams did not get each other's rows


def test_tokens_after_a_cached_prefix_see_all_of_it(engine, command_audio):
    """With the language on auto, <|startoftranscript|> is decoded alone (to read the
    language) and the rest of the prompt after it, from the cache: each of those tokens must
    attend to the whole prefix. The attention had no mask there and every clip on auto came
    out as garbage."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    t = engine._tokens
    prompt = [t.sot, t.transcribe, t.no_timestamps, *t.tokenizer.encode(" hello")]

    def fresh():
        return EncoderDecoderCache(DynamicCache(), DynamicCache())

    with torch.inference_mode():
        encoded = whisper_decode.encode(engine, command_audio)
        at_once = whisper_decode._logits(engine, [prompt], encoded, fresh())[0]
        cache = fresh()
        head = whisper_decode._logits(engine, [prompt[:1]], encoded, cache)[0]
        tail = whisper_decode._logits(engine, [prompt[1:]], encoded, cache)[0]
    in_two = torch.cat([head, tail])
    # the same up to int8 rounding (one row is quantized alone); without the mask: 22% off
    error = float((in_two - at_once).norm() / at_once.norm())
    assert error < 0.02, error


def test_a_decoder_loop_is_told_from_speech():
    from desktop_assistant.inference.whisper_decode import repeats

    assert repeats("Clear the image Clear the image")
    assert repeats("Search my chat as for pastor. Search my chat as for pastor.")
    assert not repeats("Words, words, words. And that should be all.")
    assert not repeats("bye bye")
    assert not repeats("five five")
    assert not repeats("read that again")


def test_a_looping_trimmed_window_is_decoded_again_over_30_s(tiny_whisper_dir, monkeypatch):
    """When the trimmed encoding makes the decoder repeat itself, the whole window is
    encoded and decoded again, and that text is kept."""
    import threading

    import numpy as np

    from desktop_assistant.inference import whisper_decode
    from desktop_assistant.inference.speech import WhisperEngine

    engine = WhisperEngine(tiny_whisper_dir, language="en", use_vad=False)
    engine.load()
    whole: list[bool] = []
    real_encode, real_decode = whisper_decode.encode, whisper_decode._decode_encoded

    def encode(engine, piece, whole_window=False, **kw):
        whole.append(kw.get("whole", whole_window))
        return real_encode(engine, piece, whole=kw.get("whole", whole_window))

    def decode(*args):
        result = real_decode(*args)
        looped = not whole[-1]  # the trimmed window "loops"
        return whisper_decode.replace(result, text="go on go on" if looped else "go on")

    monkeypatch.setattr(whisper_decode, "encode", encode)
    monkeypatch.setattr(whisper_decode, "_decode_encoded", decode)
    piece = np.zeros(16_000 * 2, dtype=np.float32)
    result = whisper_decode.decode_window(engine, piece, "en", threading.Event())
    assert whole == [False, True] and result.text == "go on"
