"""Prompt-lookup decoding (issue 17): drafts from the conversation, checked in one pass."""

from __future__ import annotations

import pytest

from desktop_assistant.core.conversation import Message
from desktop_assistant.inference import generation
from desktop_assistant.inference.causal_lm import CausalLMEngine
from desktop_assistant.inference.generation import lookup_draft
from desktop_assistant.inference.options import GenerationOptions

REPEAT = "alpha beta gamma delta epsilon zeta eta theta iota kappa " * 6


def test_the_draft_is_what_followed_the_last_tokens_before():
    ids = [1, 2, 3, 4, 5, 6, 7, 1, 2, 3]
    assert lookup_draft(ids, longest=3) == [4, 5, 6]
    assert lookup_draft([9, 8, 7, 6], longest=3) == []  # nothing repeats
    assert lookup_draft([1, 2], longest=3) == []
    newest = [5, 1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3]  # the most recent earlier occurrence wins
    assert lookup_draft(newest, longest=1) == [7]


@pytest.fixture(scope="module")
def engine(tiny_chat_dir):
    engine = CausalLMEngine(tiny_chat_dir, precision="fp32")
    engine.load()
    return engine


def _reply(engine, lookup, options, monkeypatch=None):
    engine.prompt_lookup = lookup
    engine.reset_cache()
    tokens: list[str] = []
    reply = engine.generate([Message("user", REPEAT)], options, tokens.append)
    cache = engine._prompt_cache
    assert cache.cache.get_seq_length() == len(cache.ids)  # the cache holds what ids say
    return reply


def test_greedy_replies_are_the_same_with_and_without_drafts(engine, monkeypatch):
    checked = []
    real = generation._forward_all
    monkeypatch.setattr(generation, "_forward_all", lambda *a: checked.append(1) or real(*a))
    options = GenerationOptions(max_new_tokens=60, temperature=0, repetition_penalty=1.0)
    plain = _reply(engine, False, options)
    assert checked == []
    drafted = _reply(engine, True, options)
    assert checked  # drafts were found and checked
    assert drafted.text == plain.text and drafted.stats.new_tokens == plain.stats.new_tokens


@pytest.mark.parametrize("limit", [1, 7, 33])
def test_sampling_with_drafts_keeps_the_limit_and_the_cache_consistent(engine, limit):
    options = GenerationOptions(max_new_tokens=limit, temperature=0.8, top_p=0.9, seed=3)
    reply = _reply(engine, True, options)
    assert reply.stats.new_tokens <= limit


def test_a_follow_up_after_drafted_replies_reuses_the_cache(engine):
    options = GenerationOptions(max_new_tokens=30, temperature=0, repetition_penalty=1.0)
    engine.prompt_lookup = True
    engine.reset_cache()
    first = engine.generate([Message("user", REPEAT)], options, lambda t: None)
    follow = [Message("user", REPEAT), Message("assistant", first.text), Message("user", "more")]
    again = engine.generate(follow, options, lambda t: None)
    assert again.stats.cached_tokens > 0
    engine.prompt_lookup = False
    engine.reset_cache()
    fresh = engine.generate(follow, options, lambda t: None)
    assert again.text == fresh.text


@pytest.mark.parametrize("top_k,top_p", [(40, 0.9), (5, 1.0), (0, 0.8), (200, 0.5)])
def test_the_sampler_draws_from_what_transformers_processors_give(top_k, top_p, monkeypatch):
    """Top-p over the top-k tokens only: the same distribution as the processors in a row."""
    import torch

    from desktop_assistant.inference.generation import _processors, _Sampler

    torch.manual_seed(0)
    logits = torch.randn(1, 5000) * 4
    history = torch.randint(0, 5000, (1, 50))
    options = GenerationOptions(temperature=0.7, top_p=top_p, top_k=top_k, repetition_penalty=1.1)
    expected = torch.softmax(_processors(options)(history, logits.clone()), dim=-1)[0]
    seen = {}

    def multinomial(probs, num_samples):
        seen["probs"] = probs.clone()
        return torch.tensor([0])

    monkeypatch.setattr(torch, "multinomial", multinomial)
    token, _ = _Sampler(options).pick(logits, history)
    probs = seen["probs"]
    if top_k:
        values, ids = _processors(options)(history, logits.clone()).topk(top_k)
        full = torch.zeros(5000)
        full[ids[0]] = probs
        probs = full
    assert torch.allclose(probs, expected, atol=1e-6)
