"""`ask --image` and `bench image`, run as a user runs them: a subprocess."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.test_cli import assert_one_error_line, run

pytestmark = pytest.mark.slow  # each test starts the app as a user does (a new Python)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-pictures") / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_ask_about_a_picture_json(tiny_vlm_dir, photo):
    args = ["ask", "--model", str(tiny_vlm_dir), "--max-new-tokens", "5", "--json"]
    result = run(*args, "--image", str(photo), "What is this?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"image_tokens", "preprocess_s", "vision_s", "ttft_s", "text"} <= set(data)
    assert data["image_tokens"] == 16 and data["new_tokens"] == 5
    assert data["vision_s"] > 0 and data["preprocess_s"] > 0
    high = run(*args, "--image", str(photo), "--image", str(photo), "--detail", "high", "Hi")
    assert high.returncode == 0, high.stderr
    assert json.loads(high.stdout)["image_tokens"] == 2 * 5 * 16  # 2x2 tiles and a global view


def test_ask_streams_an_answer_about_a_picture(tiny_vlm_dir, photo):
    result = run(
        "ask",
        "--model",
        str(tiny_vlm_dir),
        "--max-new-tokens",
        "4",
        "--image",
        str(photo),
        "Describe it",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n") and result.stderr == ""


def test_a_bad_picture_is_one_error_line(tiny_vlm_dir, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture at all")
    result = run("ask", "--model", str(tiny_vlm_dir), "--image", str(broken), "What is it?")
    assert_one_error_line(result, 2)
    missing = run("ask", "--model", str(tiny_vlm_dir), "--image", str(tmp_path / "no.png"), "Hi")
    assert_one_error_line(missing, 2)


def test_a_text_only_model_refuses_pictures(tiny_chat_dir, photo):
    result = run("ask", "--model", str(tiny_chat_dir), "--image", str(photo), "What is it?")
    assert_one_error_line(result, 2, "text only", "SmolVLM")


def test_bench_image_prints_figures(tiny_vlm_dir, photo):
    result = run(
        "bench",
        "image",
        "--model",
        str(tiny_vlm_dir),
        "--image",
        str(photo),
        "--runs",
        "1",
        "--new-tokens",
        "4",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "preprocess_s",
        "vision_s",
        "ttft_s",
        "read_ahead_ttft_s",
        "decode_tok_s",
        "peak_rss_mb",
    ):
        assert data[key] > 0, key
    assert data["image_tokens"] == 16 and data["followup_vision_s"] == 0
    assert data["followup_cached_tokens"] >= data["prompt_tokens"]
