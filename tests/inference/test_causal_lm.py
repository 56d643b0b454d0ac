from __future__ import annotations

import pytest

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.causal_lm import CausalLMEngine
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.inference.options import GenerationOptions

GREEDY = GenerationOptions(max_new_tokens=24, temperature=0)


@pytest.fixture(scope="module")
def chat_engine(tiny_chat_dir):
    engine = CausalLMEngine(tiny_chat_dir)
    engine.load()
    yield engine
    engine.unload()


def test_is_a_chat_engine(chat_engine):
    assert isinstance(chat_engine, ChatEngine)
    assert chat_engine.is_loaded and chat_engine.name == chat_engine.model_path.name


def test_streams_the_reply_and_reports_stats(chat_engine):
    chunks: list[str] = []
    reply = chat_engine.generate([Message("user", "Hello there")], GREEDY, chunks.append)
    assert len(chunks) >= 2
    assert "".join(chunks) == reply.text
    s = reply.stats
    assert s.new_tokens == GREEDY.max_new_tokens  # the fixture can never emit end-of-turn
    assert s.prompt_tokens > 3
    assert 0 < s.ttft_s <= s.total_s
    assert s.decode_tok_s > 0 and not s.stopped


def test_greedy_is_deterministic_and_seeded_sampling_repeats(chat_engine):
    first = chat_engine.generate([Message("user", "Hi")], GREEDY, lambda t: None).text
    assert chat_engine.generate([Message("user", "Hi")], GREEDY, lambda t: None).text == first
    sampled = GenerationOptions(max_new_tokens=16, temperature=1.0, seed=3)
    a = chat_engine.generate([Message("user", "Hi")], sampled, lambda t: None).text
    b = chat_engine.generate([Message("user", "Hi")], sampled, lambda t: None).text
    assert a == b


def test_cancel_stops_within_one_token(chat_engine):
    forward_calls = []
    hook = chat_engine._model.register_forward_hook(lambda *args: forward_calls.append(1))
    seen: list[str] = []
    after_cancel: list[str] = []
    calls_at_cancel: list[int] = []

    def on_text(text: str) -> None:
        (after_cancel if calls_at_cancel else seen).append(text)
        if len(seen) == 3 and not calls_at_cancel:
            calls_at_cancel.append(len(forward_calls))
            chat_engine.cancel()

    options = GenerationOptions(max_new_tokens=200, temperature=0)
    try:
        reply = chat_engine.generate([Message("user", "Count")], options, on_text)
    finally:
        hook.remove()
    assert reply.stats.stopped
    assert after_cancel == []
    assert len(forward_calls) == calls_at_cancel[0]  # no model step ran after the cancel
    assert reply.stats.new_tokens < 200
    # the next request is not affected by the earlier cancel
    assert not chat_engine.generate([Message("user", "Hi")], GREEDY, lambda t: None).stats.stopped


def test_history_longer_than_the_context_still_answers(chat_engine):
    history = []
    for i in range(60):
        history += [Message("user", f"question {i} " * 4), Message("assistant", f"answer {i} " * 4)]
    history.append(Message("user", "last"))
    reply = chat_engine.generate(history, GREEDY, lambda t: None)
    assert reply.stats.prompt_tokens + reply.stats.new_tokens <= chat_engine.context_tokens


def test_gpt2_without_template_uses_plain_prompt(tiny_gpt2_dir):
    engine = CausalLMEngine(tiny_gpt2_dir)
    engine.load()
    chunks: list[str] = []
    reply = engine.generate(
        [Message("system", "Be brief."), Message("user", "Hello")], GREEDY, chunks.append
    )
    assert "".join(chunks) == reply.text
    assert reply.stats.new_tokens >= 1 and reply.stats.prompt_tokens > 5


def test_broken_weights_give_a_model_error(tmp_path, tiny_chat_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_chat_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(ModelError, match="could not load"):
        CausalLMEngine(broken).load()


def test_unknown_architecture_gives_a_model_error(tmp_path, tiny_chat_dir):
    import json
    import shutil

    odd = tmp_path / "odd"
    shutil.copytree(tiny_chat_dir, odd)
    config = json.loads((odd / "config.json").read_text())
    config["model_type"] = "no-such-architecture"
    (odd / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError):
        CausalLMEngine(odd).load()


def test_generate_before_load_is_an_error(tiny_chat_dir):
    with pytest.raises(ModelError, match="not loaded"):
        CausalLMEngine(tiny_chat_dir).generate([Message("user", "x")], GREEDY, lambda t: None)


def _conversation(reply_text: str) -> list[Message]:
    return [
        Message("system", "You are terse."),
        Message("user", "Tell me about the sea"),
        Message("assistant", reply_text),
        Message("user", "And the mountains?"),
    ]


# Not int8: its decode step quantizes a single token's activations over their own range,
# the prefill over [-1, 1] after scaling (see DynamicInt8Linear), so a reply's KV computed while
# decoding differs in the last bits from the same tokens prefilled afresh.
@pytest.mark.parametrize("precision", ["int4", "bf16"])
def test_follow_up_reuses_the_kv_cache_and_matches_a_fresh_prefill(tiny_chat_dir, precision):
    engine = CausalLMEngine(tiny_chat_dir, precision=precision)
    engine.load()
    first = engine.generate(_conversation("")[:2], GREEDY, lambda t: None)
    assert first.stats.cached_tokens == 0
    follow_up = _conversation(first.text)
    warm = engine.generate(follow_up, GREEDY, lambda t: None)
    assert warm.stats.cached_tokens >= first.stats.prompt_tokens - 1
    engine.reset_cache()
    cold = engine.generate(follow_up, GREEDY, lambda t: None)
    assert cold.stats.cached_tokens == 0
    assert warm.text == cold.text


def test_an_edited_message_invalidates_the_cache_from_there(chat_engine):
    chat_engine.reset_cache()
    original = _conversation("The sea is large.")
    chat_engine.generate(original, GREEDY, lambda t: None)
    edited = list(original)
    edited[1] = Message("user", "Tell me about deserts")
    warm = chat_engine.generate(edited, GREEDY, lambda t: None)
    old_ids = prompts.prompt_ids(chat_engine._tokenizer, original)
    new_ids = prompts.prompt_ids(chat_engine._tokenizer, edited)
    shared = next(i for i, (a, b) in enumerate(zip(old_ids, new_ids, strict=False)) if a != b)
    assert warm.stats.cached_tokens == shared  # only the shared beginning is reused
    assert shared < len(prompts.prompt_ids(chat_engine._tokenizer, original[:2]))
    chat_engine.reset_cache()
    assert chat_engine.generate(edited, GREEDY, lambda t: None).text == warm.text


def test_regenerating_the_same_prompt_reuses_all_but_one_token(chat_engine):
    chat_engine.reset_cache()
    conversation = _conversation("Waves.")
    first = chat_engine.generate(conversation, GREEDY, lambda t: None)
    again = chat_engine.generate(conversation, GREEDY, lambda t: None)
    assert again.stats.cached_tokens == first.stats.prompt_tokens - 1
    assert again.text == first.text


def test_stop_during_a_chunked_prefill(chat_engine, monkeypatch):
    from desktop_assistant.inference import generation

    monkeypatch.setattr(generation, "PREFILL_CHUNK", 16)
    chat_engine.reset_cache()
    forward_calls = []

    def on_forward(*args):
        forward_calls.append(1)
        if len(forward_calls) == 2:
            chat_engine.cancel()

    hook = chat_engine._model.register_forward_hook(on_forward)
    long_prompt = [Message("user", "words and more words " * 15)]
    chunks: list[str] = []
    try:
        reply = chat_engine.generate(long_prompt, GREEDY, chunks.append)
    finally:
        hook.remove()
    assert reply.stats.stopped and reply.stats.new_tokens == 0 and chunks == []
    assert len(forward_calls) == 2  # the remaining chunks were never computed
    # what was prefilled before the stop is kept and reused, with the same result
    resumed = chat_engine.generate(long_prompt, GREEDY, lambda t: None)
    assert resumed.stats.cached_tokens == 32
    chat_engine.reset_cache()
    assert chat_engine.generate(long_prompt, GREEDY, lambda t: None).text == resumed.text
