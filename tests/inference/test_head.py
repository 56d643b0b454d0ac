"""The shortlist head (inference/head.py) and its kernel parts (int8_linear.c's nibble_split
and int4_scores), against the same arithmetic in torch and against the int8 head it replaces.

A decoded token's logits are ranked from the high nibbles of the int8 weights; the best
SHORTLIST are then computed from the whole int8 weights: those must be the int8 head's to
the bit, greedy decoding must pick the same tokens, and longer inputs must get the int8
head's logits for every token.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from desktop_assistant.inference import head, llama_forward, native, quant_cache, quantize


def _int8_head(n: int = 20000, k: int = 128, bias: bool = False) -> quantize.DynamicInt8Linear:
    torch.manual_seed(3)
    linear = torch.nn.Linear(k, n, bias=bias)
    linear.weight.data.normal_(0, 0.05)
    return quantize.DynamicInt8Linear.from_linear(linear)


def test_the_planes_give_back_every_int8_weight(kernel) -> None:
    torch.manual_seed(0)
    weight = torch.randint(-128, 128, (300, 192), dtype=torch.int8)
    high, low, high_sum = kernel.nibble_split(weight)
    assert high.shape == low.shape == (300, 96) and high.dtype == torch.uint8
    assert torch.equal(high_sum, (weight.int() >> 4).sum(1).int())
    layer = _int8_head(300, 192)
    shortlist = head.ShortlistHead(layer, kernel)
    shortlist.exact.weight = weight
    shortlist.exact.scales = torch.rand(300)
    shortlist.prepare()
    assert torch.equal(shortlist.rows(torch.arange(300)), weight.to(torch.int16))
    assert shortlist.exact.weight.numel() == 0  # the int8 copy is dropped


@pytest.mark.parametrize("rows", [1, 3, 16])
def test_4bit_scores_are_the_high_nibbles_times_the_activations(kernel, kernel_paths, rows) -> None:
    torch.manual_seed(rows)
    weight = torch.randint(-127, 128, (517, 128), dtype=torch.int8)  # not a multiple of 64 rows
    scales = torch.rand(517) / 100
    high, _, high_sum = kernel.nibble_split(weight)
    x = torch.randn(rows, 128)
    four_bit = (weight.int() >> 4).float() * 16 + 7.5
    expected = (x @ four_bit.T) * scales
    for path in kernel_paths:
        got = path.int4_scores(x, high, scales * 16, high_sum, scales * 7.5)
        assert got.shape == (rows, 517)
        # only the activations are quantized (255 levels per row)
        error = float((got - expected).norm() / expected.norm())
        assert error < 0.01, (path.isa, error)


@pytest.mark.parametrize("bias", [False, True])
def test_shortlisted_logits_are_the_int8_heads(kernel, bias) -> None:
    exact = _int8_head(bias=bias)
    exact.prepare()
    reference = quantize.DynamicInt8Linear(128, 20000, bias)
    reference.weight, reference.scales = exact.weight.clone(), exact.scales.clone()
    reference.bias = exact.bias.clone() if bias else None
    weight = reference.weight.float() * reference.scales.reshape(-1, 1)
    shortlist = head.ShortlistHead(exact, kernel)
    torch.manual_seed(4)
    for rows in (1, 5, head.MAX_ROWS):
        x = torch.randn(1, rows, 128)
        got = shortlist(x)[0]
        assert got.shape == (rows, 20000)
        int8 = reference(x)[0]
        ids = int8.topk(8, dim=-1).indices
        # the best are the int8 head's own logits, to the bit
        assert torch.equal(got.gather(1, ids), int8.gather(1, ids))
        assert torch.equal(got.argmax(-1), int8.argmax(-1))
        floats = x[0] @ weight.T + (reference.bias if bias else 0)
        others = float((got - floats).norm() / floats.norm())
        assert 0 < others < 0.25  # the rest: 4-bit weights (one scale per row: ~10% off)
    x = torch.randn(1, head.MAX_ROWS + 1, 128)  # more rows: the int8 kernel, every logit
    assert torch.equal(shortlist(x), reference(x))


def test_a_quantized_model_decodes_the_same_tokens_with_the_shortlist(monkeypatch) -> None:
    """A Qwen2-style model (tied embedding) with a vocabulary big enough for the shortlist:
    greedy decoding picks the same tokens as with the int8 head."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if native.kernel() is None:
        pytest.skip("our int8 kernel does not build here")

    def build():
        config = Qwen2Config(
            vocab_size=head.MIN_VOCABULARY + 100,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            tie_word_embeddings=True,
        )
        torch.manual_seed(5)
        model = llama_forward.build(quantize.quantize_model(Qwen2ForCausalLM(config), "int8"))
        return quantize.prepare(model)

    ours = build()
    monkeypatch.setenv("DESKTOP_ASSISTANT_SHORTLIST", "0")
    plain = build()
    assert isinstance(ours.lm_head, head.ShortlistHead)
    assert isinstance(plain.lm_head, quantize.DynamicInt8Linear)
    picked = []
    with torch.inference_mode():
        for model in (ours, plain):
            cache, token, tokens = model.new_cache(), [11, 12, 13], []
            for _ in range(40):
                logits = model(input_ids=torch.tensor([token]), cache=cache, logits_to_keep=1)
                token = [int(logits.logits[0, -1].argmax())]
                tokens.append(token[0])
            picked.append(tokens)
    assert picked[0] == picked[1]


def test_mapped_pages_are_given_back_and_read_again(tmp_path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(6)
    table = torch.randint(-127, 128, (4096, 256), dtype=torch.int8)
    other = torch.randn(10)
    save_file({"table": table, "other": other}, str(tmp_path / "w.safetensors"))
    state = quant_cache.read_safetensors(tmp_path / "w.safetensors", ["table"])
    assert quant_cache.release_pages(state["table"], slice(0, 2048))
    assert quant_cache.release_pages(state["table"])
    assert torch.equal(state["table"], table)  # read from the file again
    own = state["other"]
    assert not quant_cache.release_pages(own)  # its own memory: left alone
    assert not quant_cache.release_pages(table)
    assert torch.equal(own, other)


def test_a_cached_model_maps_its_head_and_answers_the_same(tiny_chat_dir, tmp_path, monkeypatch):
    """Through the engine, with the quantized-weights cache (second load): the head is
    mapped from the cache, split into planes, and greedy answers are the int8 head's."""
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions

    if native.kernel() is None:
        pytest.skip("our int8 kernel does not build here")
    folder = tmp_path / "model"
    shutil.copytree(tiny_chat_dir, folder)
    monkeypatch.setattr(head, "MIN_VOCABULARY", 1)  # the tiny model's 400 tokens
    question = [Message("user", "Write a Python function")]
    options = GenerationOptions(max_new_tokens=24, temperature=0)
    answers = []
    for shortlist in ("1", "1", "0"):  # the first load quantizes and fills the cache
        monkeypatch.setenv("DESKTOP_ASSISTANT_SHORTLIST", shortlist)
        engine = CausalLMEngine(folder, precision="int8")
        engine.load()
        lm_head = engine._model.get_output_embeddings()
        assert isinstance(lm_head, head.ShortlistHead) == (shortlist == "1")
        answers.append(engine.generate(question, options, lambda text: None).text)
        engine.unload()
    assert answers[0] == answers[1] == answers[2]


def test_bench_quality_reports_the_decoding_logits_too(tiny_chat_dir, tmp_path, monkeypatch):
    """`bench quality` compares the int8 head's logits (a long input) with fp32, and with a
    shortlist head also the logits decoding gets (a few rows at a time)."""
    from desktop_assistant.cli.bench_quality import bench_quality

    if native.kernel() is None:
        pytest.skip("our int8 kernel does not build here")
    folder = tmp_path / "model"
    shutil.copytree(tiny_chat_dir, folder)
    monkeypatch.setattr(head, "MIN_VOCABULARY", 1)
    with_shortlist = bench_quality(str(folder), "int8", tokens=120)
    monkeypatch.setenv("DESKTOP_ASSISTANT_SHORTLIST", "0")
    without = bench_quality(str(folder), "int8", tokens=120)
    assert with_shortlist["tokens"] == without["tokens"] == 120
    # the long-input path is the int8 head's in both
    assert with_shortlist["top1_agreement"] == without["top1_agreement"]
    assert with_shortlist["kl_mean"] == without["kl_mean"]
    assert 0.0 <= with_shortlist["decode_top1_agreement"] <= 1.0
    assert with_shortlist["decode_kl_mean"] >= 0.0 and with_shortlist["decode_ppl_ratio"] > 0
    assert "decode_top1_agreement" not in without
