"""Which engine runs a model folder: text-only (`CausalLMEngine`) or vision (`VisionChatEngine`).

Decided from config.json alone (no torch import), so the window can enable the picture button
as soon as a model is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_assistant.core.errors import ModelError
from desktop_assistant.core.remotes import remote_name
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.models.model_folder import ModelFolder, check_model_folder

VISION_MODEL_TYPES = ("idefics3", "smolvlm")  # image-text-to-text families VisionChatEngine runs


def _is_vision(folder: ModelFolder) -> bool:
    return not folder.gguf and folder.model_type in VISION_MODEL_TYPES


def is_vision_model(path: str | Path) -> bool:
    """True when the folder holds a model that can read pictures (a remote server's model
    may: its server says so when it cannot); False for anything else, including a folder
    that is not a usable model (loading it will say why)."""
    if remote_name(str(path)) is not None:
        return True
    try:
        return _is_vision(check_model_folder(path))
    except ModelError:
        return False


def open_engine(
    path: str | Path, precision: str = "auto", threads: int = 0, settings: Any = None
) -> ChatEngine:
    """An engine for the folder (or for "remote:NAME", the remote server of that name in
    `settings`), not loaded yet; `ModelError` when the folder is unusable."""
    name = remote_name(str(path))
    if name is not None:
        from desktop_assistant.core.remotes import find_remote, get_api_key
        from desktop_assistant.core.settings import Settings
        from desktop_assistant.inference.remote import RemoteChatEngine

        remote = find_remote(settings or Settings(), name)
        return RemoteChatEngine(remote, get_api_key(name))
    if _is_vision(check_model_folder(path)):
        from desktop_assistant.inference.vision import VisionChatEngine

        return VisionChatEngine(path, precision, threads)
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    return CausalLMEngine(path, precision, threads)
