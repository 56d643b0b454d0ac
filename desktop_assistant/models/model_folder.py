"""Checking a local model folder before handing it to transformers.

Cheap checks (no torch import) that turn the common mistakes into a message the user can act
on: a path that does not exist, a file instead of a folder, no config.json, weights only in
pickle format, a config that asks to run code from the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from desktop_assistant.core.errors import ModelError

WEIGHT_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    config: dict  # parsed config.json ({} for a GGUF file)
    name: str  # shown in the status bar
    gguf: bool = False  # a single llama.cpp GGUF file rather than a folder

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


def check_model_folder(path: str | Path) -> ModelFolder:
    """Return the folder's description, or raise `ModelError` saying what is wrong."""
    folder = Path(path).expanduser()
    if not str(path).strip():
        raise ModelError("no model folder given; pass --model PATH to a local model folder")
    if not folder.exists():
        raise ModelError(f"model folder not found: {folder}; check the path or pass --model PATH")
    if not folder.is_dir():
        if folder.suffix.lower() == ".gguf":
            return _check_gguf(folder)
        raise ModelError(
            f"{folder} is a file; --model needs a Hugging Face model folder "
            "(config.json, *.safetensors, tokenizer files) or a .gguf file"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelError(f"{config_path} is unreadable or broken ({err})") from err
    if config.get("auto_map"):
        raise ModelError(
            f"{folder} needs to run code shipped with the model (auto_map in config.json); "
            "for your safety this app only runs models transformers supports natively"
        )
    files = [p.name for p in folder.iterdir() if p.is_file()]
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in files):
        if any(name.endswith(PICKLE_SUFFIXES) for name in files):
            raise ModelError(
                f"{folder} has weights only in pickle format (.bin/.pt), which can run "
                "arbitrary code when loaded; use a copy of the model in safetensors format"
            )
        raise ModelError(f"{folder} has no weights (*.safetensors files)")
    return ModelFolder(path=folder, config=config, name=folder.name)


def _check_gguf(path: Path) -> ModelFolder:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise ModelError(f"cannot read {path}: {err}") from err
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (it does not start with the GGUF magic)")
    return ModelFolder(path=path, config={}, name=path.stem, gguf=True)
