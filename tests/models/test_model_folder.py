from __future__ import annotations

import json

import pytest

from desktop_assistant.core.errors import ModelError
from desktop_assistant.models.model_folder import check_model_folder


def test_a_good_folder(tiny_chat_dir):
    folder = check_model_folder(tiny_chat_dir)
    assert folder.model_type == "qwen2"
    assert folder.name == tiny_chat_dir.name


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: p.mkdir(), "no config.json"),
    ],
)
def test_missing_and_wrong_paths(tmp_path, setup, message):
    path = tmp_path / "model"
    setup(path)
    with pytest.raises(ModelError, match=message):
        check_model_folder(path)


def _folder(tmp_path, config, files=()):
    path = tmp_path / "m"
    path.mkdir()
    (path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    for name in files:
        (path / name).write_bytes(b"\0")
    return path


def test_broken_config(tmp_path):
    with pytest.raises(ModelError, match="unreadable or broken"):
        check_model_folder(_folder(tmp_path, "{broken", ["model.safetensors"]))


def test_remote_code_is_refused(tmp_path):
    config = {"model_type": "x", "auto_map": {"AutoModel": "modeling_x.X"}}
    with pytest.raises(ModelError, match="run code"):
        check_model_folder(_folder(tmp_path, config, ["model.safetensors"]))


def test_pickle_only_weights_are_refused(tmp_path):
    with pytest.raises(ModelError, match="pickle"):
        check_model_folder(_folder(tmp_path, {"model_type": "gpt2"}, ["pytorch_model.bin"]))


def test_no_weights(tmp_path):
    with pytest.raises(ModelError, match="no weights"):
        check_model_folder(_folder(tmp_path, {"model_type": "gpt2"}))


def test_empty_path():
    with pytest.raises(ModelError, match="no model folder"):
        check_model_folder("  ")
