"""A Qwen2 tokenizer read straight from tokenizer.json (loading.plain_tokenizer) against
AutoTokenizer's: the same ids for chat prompts and odd text (combining accents, which
Qwen2Tokenizer normalizes), the same special tokens, the same decoding. Other tokenizer classes
are left to AutoTokenizer."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from desktop_assistant.inference.loading import plain_tokenizer

TEXTS = [
    "Hello there!",
    "Héllo wörld 你好 🚀 — tabs\tand\nnew lines  with  spaces",
    "cafe\u0301 and caf\u00e9, 1234567 numbers, it's I'LL",
    "def f(x):\n    return x ** 2  # <|im_end|> inside",
    "",
]


def _same(theirs, mine) -> None:
    for text in TEXTS:
        assert mine.encode(text) == theirs.encode(text), text
        ids = theirs.encode(text)
        for skip in (False, True):
            assert mine.decode(ids, skip_special_tokens=skip) == theirs.decode(
                ids, skip_special_tokens=skip
            )
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": TEXTS[1]},
        {"role": "assistant", "content": TEXTS[2]},
        {"role": "user", "content": "And then?"},
    ]
    for tok in (theirs, mine):
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        tok.ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    assert mine.ids == theirs.ids
    for name in ("eos_token_id", "pad_token_id", "bos_token_id", "unk_token_id"):
        assert getattr(mine, name) == getattr(theirs, name), name
    assert sorted(mine.all_special_ids) == sorted(theirs.all_special_ids)
    assert len(mine) == len(theirs)


def _relabelled(tiny_chat_dir, tmp_path, name, **change):
    folder = tmp_path / name
    shutil.copytree(tiny_chat_dir, folder)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(change)
    path.write_text(json.dumps(config))
    return folder


def test_a_qwen2_tokenizer_reads_the_same(tiny_chat_dir, tmp_path):
    from transformers import AutoTokenizer

    folder = _relabelled(tiny_chat_dir, tmp_path, "qwen2", tokenizer_class="Qwen2Tokenizer")
    theirs = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert type(theirs).__name__ == "Qwen2Tokenizer"
    mine = plain_tokenizer(folder)
    assert mine is not None
    _same(theirs, mine)


@pytest.mark.parametrize(
    "change",
    [
        {"tokenizer_class": "TokenizersBackend"},  # what the tiny model says
        {"tokenizer_class": "LlamaTokenizer"},
        {"tokenizer_class": None},
        {"tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": True},
    ],
)
def test_other_tokenizers_are_left_to_autotokenizer(tiny_chat_dir, tmp_path, change):
    assert plain_tokenizer(_relabelled(tiny_chat_dir, tmp_path, "other", **change)) is None


def test_a_folder_without_tokenizer_json_or_template_is_left_to_autotokenizer(
    tiny_chat_dir, tmp_path
):
    for missing in ("tokenizer.json", "chat_template.jinja"):
        folder = _relabelled(tiny_chat_dir, tmp_path, missing, tokenizer_class="Qwen2Tokenizer")
        (folder / missing).unlink()
        assert plain_tokenizer(folder) is None, missing


@pytest.mark.real_models
def test_the_dev_qwen_tokenizer_reads_the_same():
    from transformers import AutoTokenizer

    root = Path(os.environ.get("DESKTOP_ASSISTANT_TEST_MODELS", "/nonexistent"))
    folder = root / "qwen2.5-coder-0.5b-instruct"
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"{folder} is missing")
    mine = plain_tokenizer(folder)
    assert mine is not None
    _same(AutoTokenizer.from_pretrained(folder, local_files_only=True), mine)
