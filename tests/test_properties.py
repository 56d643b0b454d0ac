"""Property-based tests (hypothesis) for what takes input from outside (issue 18, the whole
surface): the picture and audio readers, the command recogniser and the context fit. The
Markdown renderer's are in tests/ui/test_markdown.py."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import decode_file
from desktop_assistant.core.commands import INTENTS, MAX_WORDS, clean, parse_command, understand
from desktop_assistant.core.images import ImageError, check_image

SLOW = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (12, 9), (200, 10, 30)).save(out, "PNG")
    return out.getvalue()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes())
    return out.getvalue()


PNG, WAV = _png(), _wav()


def _damaged(good: bytes) -> st.SearchStrategy[bytes]:
    """The good file cut short, or with some bytes changed."""
    cut = st.integers(0, len(good)).map(lambda n: good[:n])
    changed = st.lists(
        st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ).map(lambda edits: _edit(good, edits))
    return st.one_of(cut, changed, st.binary(max_size=2048))


def _edit(good: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(good)
    for at, value in edits:
        data[at] = value
    return bytes(data)


@SLOW
@given(_damaged(PNG))
def test_a_picture_is_read_or_refused_with_a_message(data):
    try:
        checked = check_image(data, name="x.png")
    except ImageError as err:
        assert str(err)
    else:
        assert checked.width > 0 and checked.height > 0


@SLOW
@given(_damaged(WAV))
def test_audio_is_read_or_refused_with_a_message(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    path.write_bytes(data)
    try:
        samples = decode_file(path)
    except AudioError as err:
        assert str(err)
    else:
        assert samples.dtype == np.float32 and samples.ndim == 1 and np.isfinite(samples).all()


WORDS = (
    "new chat stop send read that again delete this conversation go to the next previous "
    "zoom in out dark light mode please copy answer scroll up down yes no the a my what "
    "how is it I think sign was red settings image picture rename search for"
)
words = st.sampled_from(WORDS.split())
utterances = st.one_of(st.text(max_size=200), st.lists(words, max_size=16).map(" ".join))


@settings(deadline=None, max_examples=400)
@given(utterances)
def test_the_recogniser_never_fails_and_knows_its_intents(text):
    command = parse_command(text)
    heard = understand(text)
    if command is not None:
        assert command.intent in INTENTS
        assert len(clean(text).split()) <= MAX_WORDS  # long utterances are dictation
    assert heard.command is None or heard.command.intent in INTENTS


@settings(deadline=None, max_examples=300)
@given(
    st.lists(words, min_size=1, max_size=8).map(" ".join), st.sampled_from(["", ".", "!", "?", ","])
)
def test_case_and_end_punctuation_do_not_change_the_intent(text, end):
    plain = parse_command(text)
    shouted = parse_command(text.upper() + end)
    assert (plain and plain.intent) == (shouted and shouted.intent)


@pytest.fixture(scope="module")
def tokenizer(tiny_chat_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_dir)


turn_text = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=60)


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(turn_text, min_size=1, max_size=14),
    st.booleans(),
    st.integers(40, 400),
    st.integers(1, 64),
)
def test_the_context_fit_keeps_the_newest_turns_and_fits(tokenizer, texts, system, context, reply):
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.core.errors import UserError
    from desktop_assistant.inference import prompt as prompts

    messages = [Message("system", "be brief")] if system else []
    for i, text in enumerate(texts):
        messages.append(Message("user" if i % 2 == 0 else "assistant", text))
    if messages[-1].role != "user":
        messages.append(Message("user", "and now?"))
    try:
        ids, room, dropped = prompts.fit_to_context(tokenizer, messages, context, reply)
    except UserError:
        alone = messages[:1] * system + messages[-1:]
        assert len(prompts.prompt_ids(tokenizer, alone)) + min(reply, 16) > context
        return
    assert min(reply, 16) <= room <= reply and len(ids) + room <= context
    kept = messages[: int(system)] + messages[int(system) + dropped :]
    assert ids == prompts.prompt_ids(tokenizer, kept)  # a suffix of the turns, system kept
    assert kept[-1] is messages[-1]
    if dropped:
        assert kept[int(system)].role == "user"  # whole turns: never starts with an answer
