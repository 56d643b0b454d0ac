from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import UserError
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.streaming import TextStream


def test_plain_transcript_for_models_without_template():
    messages = [
        Message("system", "Be brief."),
        Message("user", "Hi"),
        Message("assistant", "Hello"),
        Message("user", "How are you?"),
    ]
    text = prompts.plain_transcript(messages)
    assert text == "Be brief.\n\nUser: Hi\nAssistant: Hello\nUser: How are you?\nAssistant:"


def test_chat_template_is_used(tiny_chat_dir):
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    ids = prompts.prompt_ids(tok, [Message("user", "Hi")])
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>user\nHi<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.convert_tokens_to_ids("<|im_end|>") in prompts.stop_token_ids(tok, None)


def test_a_stopped_answer_is_continued_not_answered_again(tiny_chat_dir):
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    messages = [Message("user", "Count"), Message("assistant", "one two")]
    text = tok.decode(prompts.prompt_ids(tok, messages))
    assert text.endswith("<|im_start|>assistant\none two")
    plain = prompts.plain_transcript(messages)
    assert plain == "User: Count\nAssistant: one two"


def test_oldest_turns_are_dropped_to_fit(tiny_chat_dir):
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    history = [Message("system", "sys")]
    for i in range(30):
        history += [Message("user", f"question {i} " * 5), Message("assistant", f"answer {i} " * 5)]
    history.append(Message("user", "the newest question"))
    full = len(prompts.prompt_ids(tok, history))
    ids, room, dropped = prompts.fit_to_context(tok, history, context_tokens=300, reply_tokens=100)
    assert dropped > 0 and dropped % 2 == 0  # whole turns, oldest first
    assert full > 300
    assert len(ids) + room <= 300 and room >= 16
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>system\nsys") and "the newest question" in text
    assert "question 0 " not in text
    # the fewest whole turns are left out: keeping one more turn would not fit
    one_more = history[:1] + history[1 + dropped - 2 :]
    assert len(prompts.prompt_ids(tok, one_more)) + 16 > 300


def test_a_kept_conversation_starts_with_a_question(tiny_chat_dir):
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    history = [Message("user", "q " * 3), Message("assistant", "long answer " * 40)]
    history += [Message("user", "short"), Message("assistant", "ok"), Message("user", "next")]
    ids, _, dropped = prompts.fit_to_context(tok, history, context_tokens=60, reply_tokens=8)
    assert dropped == 2 and tok.decode(ids).startswith("<|im_start|>user\nshort")


def test_a_single_message_too_long_is_a_user_error(tiny_chat_dir):
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    with pytest.raises(UserError, match="too long"):
        prompts.fit_to_context(tok, [Message("user", "word " * 1000)], 256, 64)


class _CharTokenizer:
    """Each id is one character: enough to test streaming without a model."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


class _ByteTokenizer:
    """Each id is one UTF-8 byte, so characters can be split over tokens."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def _run_stream(ids, markers=(), tokenizer=None):
    chunks = []
    stream = TextStream(tokenizer or _CharTokenizer(), chunks.append, markers)
    stopped_at = None
    for n, token in enumerate(ids, 1):
        if stream.add(token):
            stopped_at = n
            break
    stream.finish()
    return chunks, stream, stopped_at


def test_stream_emits_everything_exactly_once():
    chunks, stream, stopped = _run_stream([ord(c) for c in "Hello, world"])
    assert "".join(chunks) == "Hello, world" == stream.text
    assert stopped is None and len(chunks) == len("Hello, world")


def test_stream_stops_at_the_next_user_turn_and_hides_the_marker():
    text = "Sure.\nUs is fine\nUser: next"
    chunks, stream, stopped = _run_stream([ord(c) for c in text], prompts.PLAIN_STOP_MARKERS)
    assert "".join(chunks) == "Sure.\nUs is fine" == stream.text
    assert stopped == len("Sure.\nUs is fine\nUser:")


def test_stream_waits_for_whole_characters():
    text = "añ日🙂b"
    chunks, stream, _ = _run_stream(list(text.encode()), tokenizer=_ByteTokenizer())
    assert all("\ufffd" not in c for c in chunks)
    assert "".join(chunks) == text == stream.text


def test_a_cut_off_character_is_shown_at_the_end():
    chunks, stream, _ = _run_stream(list("ab日".encode())[:-1], tokenizer=_ByteTokenizer())
    assert stream.text.startswith("ab") and stream.text.endswith("\ufffd")
