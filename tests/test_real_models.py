"""Checks on real weights from ../shared/tools/get-dev-models (skipped without them)."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.real_models


@pytest.mark.timeout(300)
def test_ask_qwen_coder_answers_correctly(real_models_dir):
    model = real_models_dir / "qwen2.5-coder-0.5b-instruct"
    if not model.is_dir():
        pytest.skip(f"{model} is missing; run get-dev-models with torch, transformers and gguf")
    result = run(
        "ask",
        "--model",
        str(model),
        "--temperature",
        "0",
        "--max-new-tokens",
        "16",
        "--json",
        "What is the capital of France? Answer in one word.",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "paris" in data["text"].lower()
    assert 0 < data["new_tokens"] <= 16 and data["prompt_tokens"] > 10
    assert data["decode_tok_s"] > 1.0


@pytest.mark.timeout(900)  # 60 s here (Zen 4) for the conversion and two answers
def test_a_gguf_file_is_converted_once_and_answers(real_models_dir, isolated_home):
    gguf = real_models_dir / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if not gguf.is_file():
        pytest.skip(f"{gguf} is missing")
    question = (
        "ask",
        "--model",
        str(gguf),
        "--temperature",
        "0",
        "--max-new-tokens",
        "8",
        "--json",
        "What is the capital of France? Answer in one word.",
    )
    for _ in range(2):  # the second run loads the cached quantized weights
        result = run(*question, timeout=420)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "paris" in json.loads(result.stdout)["text"].lower()
    assert list((isolated_home / "cache" / "quantized").glob("*/int8-g32/manifest.json"))
