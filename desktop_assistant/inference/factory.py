"""Which engine runs a model folder: text-only (`CausalLMEngine`) or vision (`VisionChatEngine`).

Decided from config.json alone (no torch import), so the window can enable the picture button
as soon as a model is chosen.
"""

from __future__ import annotations

from pathlib import Path

from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.models.model_folder import ModelFolder, check_model_folder

VISION_MODEL_TYPES = ("idefics3", "smolvlm")  # image-text-to-text families VisionChatEngine runs


def _is_vision(folder: ModelFolder) -> bool:
    return not folder.gguf and folder.model_type in VISION_MODEL_TYPES


def is_vision_model(path: str | Path) -> bool:
    """True when the folder holds a model that can read pictures; False for anything else,
    including a folder that is not a usable model (loading it will say why)."""
    try:
        return _is_vision(check_model_folder(path))
    except ModelError:
        return False


def open_engine(path: str | Path, precision: str = "auto", threads: int = 0) -> ChatEngine:
    """An engine for the folder, not loaded yet; `ModelError` when the folder is unusable."""
    if _is_vision(check_model_folder(path)):
        from desktop_assistant.inference.vision import VisionChatEngine

        return VisionChatEngine(path, precision, threads)
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    return CausalLMEngine(path, precision, threads)
