"""Our Llama / Qwen2 forward against transformers' on the same weights.

In fp32 the two must agree to rounding (1e-4 relative) at every step a conversation takes:
chunked prefill, single tokens, a draft of several tokens, a crop and a regrowth past the
cache's first capacity. Quantized layers are fused and checked against the unfused ones.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from desktop_assistant.inference import llama_forward, quantize
from desktop_assistant.inference.compat import with_cache
from desktop_assistant.inference.generation import new_cache


def _llama(**extra: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=extra.pop("inner", 96),
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=extra.pop("kv_heads", 2),
        max_position_embeddings=1024,
        **extra,
    )
    torch.manual_seed(1)
    return LlamaForCausalLM(config).eval()


def _qwen2(**extra: Any) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=extra.pop("inner", 96),
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        **extra,
    )
    torch.manual_seed(2)
    return Qwen2ForCausalLM(config).eval()


def _run(model: Any, cache: Any, ids: list[int], keep: int = 0) -> torch.Tensor:
    out = model(
        input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=keep, **with_cache(cache)
    )
    return out.logits[0].float()


def _close(a: torch.Tensor, b: torch.Tensor, tolerance: float = 1e-4) -> bool:
    return float((a - b).norm() / b.norm()) < tolerance


# A conversation's steps: prefill in two chunks, single tokens, a draft checked at once,
# then the draft's rejected tail cropped and decoding resumed.
STEPS: list[Any] = [list(range(3, 40)), list(range(40, 120)), [7], [9], [11, 12, 13, 14], -2, [5]]


@pytest.mark.parametrize("make", [_llama, _qwen2], ids=["llama", "qwen2"])
def test_same_logits_as_transformers_at_every_step(make: Any) -> None:
    reference = make()
    ours = llama_forward.build(copy.deepcopy(reference))
    assert isinstance(ours, llama_forward.LlamaForward)
    from transformers import DynamicCache

    theirs_cache, our_cache = DynamicCache(config=reference.config), new_cache(ours)
    assert isinstance(our_cache, llama_forward.KVCache)
    with torch.inference_mode():
        for step in STEPS:
            if isinstance(step, int):
                theirs_cache.crop(step)
                our_cache.crop(step)
                continue
            theirs, mine = _run(reference, theirs_cache, step), _run(ours, our_cache, step)
            assert mine.shape == theirs.shape
            assert _close(mine, theirs), step
            assert our_cache.get_seq_length() == theirs_cache.get_seq_length()
        last = _run(ours, our_cache, [8, 9, 10], keep=1)
        assert last.shape == (1, reference.config.vocab_size)


def test_cache_grows_past_its_capacity_and_keeps_what_it_held() -> None:
    reference = _llama(kv_heads=4)  # plain multi-head attention, no key/value sharing
    ours = llama_forward.build(copy.deepcopy(reference))
    assert ours is not None
    from transformers import DynamicCache

    theirs_cache, our_cache = DynamicCache(config=reference.config), ours.new_cache()
    ids = [int(i) for i in torch.randint(3, 300, (2 * llama_forward.CACHE_STEP + 10,))]
    with torch.inference_mode():
        _run(reference, theirs_cache, ids[:100])
        _run(ours, our_cache, ids[:100])
        assert our_cache.keys.shape[3] == llama_forward.CACHE_STEP
        for token in ids[100 : llama_forward.CACHE_STEP + 3]:  # one at a time, over the edge
            mine = _run(ours, our_cache, [token])
            theirs = _run(reference, theirs_cache, [token])
        assert our_cache.keys.shape[3] == 2 * llama_forward.CACHE_STEP
        assert _close(mine, theirs)
        rest = ids[llama_forward.CACHE_STEP + 3 :]
        assert _close(_run(ours, our_cache, rest), _run(reference, theirs_cache, rest))


def test_inputs_embeds_take_the_place_of_ids() -> None:
    ours = llama_forward.build(_llama())
    assert ours is not None
    ids = torch.tensor([[4, 5, 6, 7]])
    with torch.inference_mode():
        by_ids = ours(input_ids=ids, cache=ours.new_cache()).logits
        embeds = ours.get_input_embeddings()(ids)
        by_embeds = ours(inputs_embeds=embeds, past_key_values=ours.new_cache()).logits
    assert torch.equal(by_ids, by_embeds)


def test_a_transformers_cache_is_refused() -> None:
    from transformers import DynamicCache

    ours = llama_forward.build(_llama())
    assert ours is not None
    with pytest.raises(TypeError):
        ours(input_ids=torch.tensor([[1, 2]]), cache=DynamicCache())


def test_families_and_variants_it_does_not_know_keep_transformers_forward() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    assert llama_forward.build(gpt2) is None
    assert llama_forward.build(_llama(hidden_act="gelu")) is None
    dynamic = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}
    assert llama_forward.build(_llama(rope_parameters=dynamic)) is None
    sliding = _qwen2(use_sliding_window=True, sliding_window=16, max_window_layers=0)
    assert llama_forward.build(sliding) is None


def test_llama3_rope_scaling_matches() -> None:
    rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
        "rope_theta": 500000.0,
    }
    reference = _llama(rope_parameters=rope)
    ours = llama_forward.build(copy.deepcopy(reference))
    assert ours is not None
    from transformers import DynamicCache

    ids = list(range(3, 200))
    with torch.inference_mode():
        theirs = _run(reference, DynamicCache(config=reference.config), ids)
        assert _close(_run(ours, ours.new_cache(), ids), theirs)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_quantized_model_fuses_what_it_can_and_agrees(scheme: str) -> None:
    if scheme == "int4" and not quantize.int4_kernel_available():
        pytest.skip("no int4 kernel in this torch")
    reference = quantize.quantize_model(_qwen2(), scheme)
    ours = llama_forward.build(quantize.quantize_model(_qwen2(), scheme))
    assert ours is not None
    quantize.prepare(reference)
    quantize.prepare(ours)
    layer = ours.layers[0]
    fusable = scheme == "int8"
    assert (layer.qkv.fused is not None) == fusable
    assert (layer.gate_up.fused is not None) == fusable
    from transformers import DynamicCache

    ids = list(range(3, 60))
    with torch.inference_mode():
        theirs = _run(reference, DynamicCache(config=reference.config), ids)
        mine = _run(ours, ours.new_cache(), ids)
    # several rows: int8 activations are quantized per row, so fused and unfused are the same
    # sums; int4 runs in bf16, where our attention (fp32) is the more exact of the two
    assert _close(mine, theirs, 1e-3 if scheme == "int8" else 2e-2)


@pytest.mark.parametrize("make", [_llama, _qwen2], ids=["llama", "qwen2"])
def test_layers_in_c_agree_with_the_torch_layers(make: Any) -> None:
    """Up to NATIVE_TOKENS tokens (a decoded one, a draft, a short prompt) go through the layers
    in one call of the C kernel (decode_layers) when all of their products run on it; the same
    steps through our torch layers give the same logits, and the KV cache the same keys and
    values. Longer chunks take the torch layers in both, so the two paths also share a cache."""
    from desktop_assistant.inference import native

    if native.kernel() is None:
        pytest.skip("our int8 kernel does not build here")
    models = []
    for _ in range(2):
        model = llama_forward.build(quantize.quantize_model(make(inner=128), "int8"))
        assert model is not None
        models.append(quantize.prepare(model))
    in_c, in_torch = models
    in_torch._native = []  # no layer in C
    caches = [m.new_cache() for m in models]
    short_prompt = list(range(20, 20 + llama_forward.NATIVE_TOKENS))  # in C from position 0
    with torch.inference_mode():
        for step in [short_prompt, [5], -len(short_prompt) - 1] + STEPS + [[3]] * 20:
            if isinstance(step, int):
                for cache in caches:
                    cache.crop(step)
                continue
            a, b = (_run(m, c, step) for m, c in zip(models, caches, strict=True))
            assert _close(a, b, 2e-3), step
    assert in_c._native and len(in_c._native) == len(in_c.layers)  # it did run in C
    length = caches[0].length
    assert length == caches[1].length
    for name in ("keys", "values"):
        mine, theirs = (getattr(c, name)[:, :, :, :length] for c in caches)
        assert _close(mine, theirs, 2e-3), name


def test_fusing_packed_int8_layers_is_refused() -> None:
    parts = [quantize.DynamicInt8Linear.from_linear(torch.nn.Linear(16, n)) for n in (16, 8)]
    parts[0].prepare()
    assert llama_forward.Projection(parts).fused is None


def _tiny_llama_folder(path, tokenizer_from):
    """A tiny Llama chat model (biases in attention, as some Llama variants have), with the
    tiny Qwen2's tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    model = _llama(attention_bias=True)
    model.config.vocab_size = 300
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("family", ["qwen2", "llama"])
def test_a_cached_model_loads_without_transformers_model_code(family, tiny_chat_dir, tmp_path):
    """The second load of a quantized model reads the cache into llama_forward's own module
    tree (no import of transformers' modeling code: 2.3 s) and answers exactly as the
    first, which quantized transformers' model."""
    import json
    import subprocess
    import sys

    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions

    if family == "qwen2":
        folder = tiny_chat_dir
    else:
        folder = _tiny_llama_folder(tmp_path / "llama", tiny_chat_dir)
    greedy = GenerationOptions(max_new_tokens=8, temperature=0)
    first = CausalLMEngine(folder, precision="int8")
    first.load()
    want = first.generate([Message("user", "Hello there")], greedy, lambda t: None)
    code = f"""
import json, sys
from desktop_assistant.core.conversation import Message
from desktop_assistant.inference.causal_lm import CausalLMEngine
from desktop_assistant.inference.options import GenerationOptions
engine = CausalLMEngine({str(folder)!r}, precision="int8")
engine.load()
reply = engine.generate([Message("user", "Hello there")],
                        GenerationOptions(max_new_tokens=8, temperature=0), lambda t: None)
modeling = [m for m in sys.modules if m.startswith("transformers.models.")
            and ".modeling_" in m and ".auto." not in m]
kind = type(engine._model).__name__
print(json.dumps({{"text": reply.text, "kind": kind, "modeling": modeling}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["kind"] == "LlamaForward"
    assert got["modeling"] == []
    assert got["text"] == want.text
