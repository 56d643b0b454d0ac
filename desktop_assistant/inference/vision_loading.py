"""Loading a vision-language model folder: its processor, built without torchvision, and the
model with its language part quantized like the text engine's and its vision part in bf16 or
fp32 (the measurements behind that choice are in vision.py's module doc).
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference.engine import ProgressCallback
from desktop_assistant.models.model_folder import ModelFolder

log = logging.getLogger(__name__)
VISION_PARTS = ("vision_model", "connector")  # submodules of model.model that read pixels


def vision_precision(chosen: str) -> str:
    """The vision encoder's precision for the model's chosen one (measured: vision.py)."""
    import torch

    if chosen == "fp32":
        return "fp32"
    if chosen == "bf16" or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16"
    return "fp32"


def load_processor(folder: ModelFolder) -> Any:
    """An Idefics3Processor built from the folder's files, with the PIL image processor.

    Built by hand because `AutoProcessor` picks the torchvision image processor when torchvision
    imports, and SmolVLM2's own processor needs torchvision (for video) and num2words; its
    pictures are tokenized exactly like Idefics3's (same tokens, same tiles).
    """
    from transformers import AutoTokenizer, Idefics3Processor
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    path = folder.path
    try:
        image_processor = Idefics3ImageProcessorPil.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        extra = json.loads((path / "processor_config.json").read_text(encoding="utf-8"))
    except Exception as err:
        raise ModelError(f"could not load the image processor of {path}: {err}") from err
    template = tokenizer.chat_template
    if (path / "chat_template.jinja").is_file():
        template = (path / "chat_template.jinja").read_text(encoding="utf-8")
    elif (path / "chat_template.json").is_file():
        template = json.loads((path / "chat_template.json").read_text(encoding="utf-8"))[
            "chat_template"
        ]
    vision = folder.config.get("vision_config", {})
    scale = folder.config.get("scale_factor", 1)
    seq_len = extra.get("image_seq_len") or (
        (vision.get("image_size", 512) // vision.get("patch_size", 16)) ** 2 // scale**2
    )
    return Idefics3Processor(
        image_processor, tokenizer, image_seq_len=seq_len, chat_template=template
    )


def load_vision_model(
    folder: ModelFolder,
    chosen: str,
    progress: ProgressCallback,
    own_forward: bool = True,
    tokenizer: Any = None,
) -> tuple[Any, Any]:
    """The model with its language part quantized per `chosen` and its vision part in
    `vision_precision(chosen)`, and what runs the language part: our `LlamaForward` over its
    weights (the model's own language layers are then gone) or, for a family it does not
    know, the model itself. The quantized language part is cached like a text model's
    (quant_cache; `tokenizer` is saved with it)."""
    import torch
    from torch import nn
    from transformers import AutoModelForImageTextToText

    from desktop_assistant.inference import llama_forward
    from desktop_assistant.inference.quantize import SCHEMES, prepare

    dtype = torch.float32 if chosen == "fp32" else torch.bfloat16
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            folder.path, dtype=dtype, local_files_only=True, use_safetensors=True
        ).eval()
    except Exception as err:  # torn or odd files fail in many ways
        raise ModelError(f"could not load the model in {folder.path}: {err}") from err
    inner = model.model
    parts = {name: getattr(inner, name) for name in VISION_PARTS}
    if chosen in SCHEMES:
        for name in parts:  # hidden so that only the language model is quantized
            setattr(inner, name, nn.Identity())
        try:
            _quantize_language_part(model, folder, chosen, tokenizer, progress)
        except _TornCache:  # removed: read the model again and quantize it
            return load_vision_model(folder, chosen, progress, own_forward, tokenizer)
        finally:
            for name, part in parts.items():
                setattr(inner, name, part)
    text = llama_forward.build_text_part(model) if own_forward else None
    if text is not None:
        prepare(text)
    if chosen in SCHEMES:
        prepare(model)
    vision_dtype = torch.float32 if vision_precision(chosen) == "fp32" else torch.bfloat16
    with torch.no_grad():
        for part in parts.values():
            for param in part.to(vision_dtype).parameters():
                # Own memory rather than views of the mapped weights file, which otherwise
                # stays mapped with the pages quantization read in: 167 MB less RSS measured.
                param.data = param.data.clone()
    return model, text or model


class _TornCache(Exception):
    """The cached language part could not be read (and is removed)."""


def _quantize_language_part(
    model: Any, folder: ModelFolder, scheme: str, tokenizer: Any, progress: ProgressCallback
) -> None:
    """Quantize `model` (its vision parts hidden) in place: from the quantized-weights cache
    when it holds this folder (its quantized layers in place of the float ones read), else
    by quantizing, then caching the result for the next start (0.46 s for SmolVLM-256M's
    language part on 2 cores of a Zen 4, at every start before)."""
    import time

    import torch

    from desktop_assistant.inference import quant_cache
    from desktop_assistant.inference.quantize import (
        INT4_GROUP,
        activation_dtype,
        make_skeleton,
        quantize_model,
    )

    path, group = folder.path, INT4_GROUP
    if quant_cache.is_current(path, scheme, group):
        skeleton = lambda: make_skeleton(model, scheme, group)  # noqa: E731
        try:
            quant_cache.load(path, scheme, group, skeleton, activation_dtype(scheme))
            return
        except Exception as err:  # a torn cache file (the float layers are gone by now)
            log.warning("quantized cache unusable (%s); quantizing again", err)
            shutil.rmtree(quant_cache.entry_dir(path, scheme, group), ignore_errors=True)
            raise _TornCache from err
    progress(f"Quantizing the language model to {scheme}…")
    started = time.perf_counter()
    with torch.inference_mode():
        quantize_model(model, scheme, group)
    if tokenizer is None:
        return
    try:
        quant_cache.save(model, tokenizer, path, scheme, group, time.perf_counter() - started)
    except OSError as err:
        log.warning("could not cache the quantized language model: %s", err)
