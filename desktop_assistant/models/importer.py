"""Importing a model the user already has: a Hugging Face folder, or a single GGUF file.

A folder is checked, then its needed files (safetensors weights, config, tokenizer and
processor files; no pickles, no other formats) are copied into the models folder: a copy
keeps working when the original is moved or deleted, and the user's folder is never touched.
A GGUF file is converted once through transformers' GGUF loader (dequantized to bf16) and
saved with `save_pretrained` as a safetensors folder; the app then quantizes it on first load
as it does any folder (and caches that, see quant_cache.py).

Refused, with the reason: pickle-only weights, a config or tokenizer asking for remote code
(`auto_map`), an architecture transformers cannot build, a truncated file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_assistant.core.errors import ModelError
from desktop_assistant.core.paths import file_sha256
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import human_size, load_catalog, wanted_file
from desktop_assistant.models.model_folder import ModelFolder, check_model_folder

ImportProgress = Callable[[str, float], None]  # (what is happening, fraction done; -1: unknown)
CODE_FILES = ("tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
COPY_BLOCK = 4 << 20
_convert_lock = threading.Lock()


class ImportCancelled(ModelError):
    """The user cancelled; nothing was installed."""


def import_model(
    path: str | Path,
    progress: ImportProgress | None = None,
    cancel: threading.Event | None = None,
) -> registry.InstalledModel:
    """Install a model folder or a .gguf file; `ModelError` says why when it cannot be."""
    source = Path(path).expanduser()
    report = progress or (lambda text, fraction: None)
    stop = cancel or threading.Event()
    if source.is_file() and source.suffix.lower() == ".gguf":
        return import_gguf(source, report, stop)
    return import_folder(source, report, stop)


def check_folder(source: Path) -> tuple[ModelFolder, str, list[Path]]:
    """The folder's description, its role and the files to copy; `ModelError` if unusable."""
    folder = check_model_folder(source)  # missing, no config, auto_map, pickle-only, no weights
    for name in CODE_FILES:
        data = _json(source / name)
        if isinstance(data, dict) and data.get("auto_map"):
            raise ModelError(
                f"{source} needs to run code shipped with the model (auto_map in {name}); for "
                "your safety this app only runs models transformers supports natively"
            )
    role = registry.role_of_config(folder.config)
    check_architecture(folder.model_type, role, source)
    patterns = load_catalog().files
    files = sorted(p for p in source.iterdir() if p.is_file() and wanted_file(p.name, patterns))
    index = _json(source / "model.safetensors.index.json")
    if isinstance(index, dict):
        for shard in sorted(set(index.get("weight_map", {}).values())):
            if not (source / shard).is_file():
                raise ModelError(f"{source} is incomplete: the weights file {shard} is missing")
    for weights in (p for p in files if p.suffix == ".safetensors"):
        check_safetensors(weights)
    return folder, role, files


def check_architecture(model_type: str, role: str, where: Path) -> None:
    """Refuse a model_type transformers does not know, or cannot run in that role."""
    from transformers.models.auto import configuration_auto, modeling_auto

    if model_type not in configuration_auto.CONFIG_MAPPING_NAMES:
        raise ModelError(
            f"{where} is a {model_type or 'unnamed'} model, an architecture this version of "
            "transformers does not know; use a model of a supported family (Qwen, Llama, "
            "SmolVLM, Whisper, …)"
        )
    if role == "chat" and model_type not in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(
            f"{where} is a {model_type} model, which is not a chat, vision or speech model "
            "this app can run"
        )


def check_safetensors(path: Path) -> None:
    """A safetensors file whose size matches its header (a cut-off copy or download fails)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if not 2 <= length <= min(size - 8, 100 << 20):
                raise ValueError("bad header length")
            header = json.loads(f.read(length))
        header.pop("__metadata__", None)
        end = max((t["data_offsets"][1] for t in header.values()), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ModelError(f"{path} is not a readable safetensors file ({err})") from err
    if size < 8 + length + end:
        raise ModelError(
            f"{path} is truncated: it has {human_size(size)} of {human_size(8 + length + end)}; "
            "copy or download it again"
        )


def import_folder(
    source: Path, progress: ImportProgress, cancel: threading.Event
) -> registry.InstalledModel:
    progress(f"Checking {source.name}…", 0.0)
    folder, role, files = check_folder(source)
    total = sum(p.stat().st_size for p in files)
    model_id, target = _new_id(source.name)
    staging = _staging(target)
    _check_disk(total, staging)
    copied = 0
    hashes: dict[str, tuple[int, str]] = {}
    try:
        for path in files:
            digest = hashlib.sha256()
            with open(path, "rb") as src, open(staging / path.name, "wb") as dst:
                while block := src.read(COPY_BLOCK):
                    if cancel.is_set():
                        raise ImportCancelled(f"import of {source} cancelled")
                    dst.write(block)
                    digest.update(block)
                    copied += len(block)
                    progress(f"Copying {path.name}…", copied / total if total else 1.0)
            hashes[path.name] = (path.stat().st_size, digest.hexdigest())
        check_model_folder(staging)
        return _install(staging, target, model_id, role, str(source.resolve()), hashes, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def import_gguf(
    source: Path, progress: ImportProgress, cancel: threading.Event
) -> registry.InstalledModel:
    progress(f"Reading {source.name}…", 0.0)
    folder = check_model_folder(source)  # the GGUF magic
    architecture, elements = read_gguf(source)
    model_id, target = _new_id(source.stem)
    staging = _staging(target)
    _check_disk(elements * 2, staging)  # saved in bf16
    from desktop_assistant.models import memory

    memory.check_fits(folder, memory.need(folder, "bf16"))  # converted through bf16
    try:
        from desktop_assistant.inference.loading import load_float, load_tokenizer

        progress("Converting the GGUF file (once)…", 0.02)
        tokenizer = load_tokenizer(folder)
        with _tensor_progress(progress, cancel, source):
            model = load_float(folder, "bf16")
        progress("Saving the converted model…", 0.8)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        del model
        progress("Checking the converted model…", 0.95)
        converted = check_model_folder(staging)
        check_architecture(converted.model_type, "chat", source)
        hashes = {p.name: (p.stat().st_size, file_sha256(p, COPY_BLOCK)) for p in staging.iterdir()}
        origin = f"{source.resolve()} (converted from GGUF, {architecture})"
        installed = _install(staging, target, model_id, "chat", origin, hashes, converted)
        progress("Done", 1.0)
        return installed
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def _tensor_progress(
    progress: ImportProgress, cancel: threading.Event, source: Path
) -> Iterator[None]:
    """Progress (and cancel) per tensor while transformers converts a GGUF file.

    transformers walks the tensors through `tqdm(...)` in modeling_gguf_pytorch_utils; that
    name is swapped for a counting generator for the duration (one conversion at a time). If
    a later transformers moves it, the conversion simply runs without per-tensor progress.
    """
    import transformers
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars on stderr
    original = getattr(gguf_utils, "tqdm", None)

    def counted(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable)
        for done, item in enumerate(items):
            if cancel.is_set():
                raise ImportCancelled(f"import of {source} cancelled")
            progress("Converting the GGUF file (once)…", 0.05 + 0.7 * done / len(items))
            yield item

    with _convert_lock:
        if original is not None:
            gguf_utils.tqdm = counted
        try:
            yield
        finally:
            if original is not None:
                gguf_utils.tqdm = original


def read_gguf(path: Path) -> tuple[str, int]:
    """The file's architecture and parameter count; `ModelError` for a truncated or damaged
    file, or an architecture transformers cannot convert."""
    try:
        from desktop_assistant.models.gguf_header import read_header

        header = read_header(path)
    except ImportError as err:
        raise ModelError("reading a GGUF file needs the gguf package: pip install gguf") from err
    if header.data_end > path.stat().st_size:
        raise ModelError(f"{path} is truncated; copy or download it again")
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if header.architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ModelError(
            f"{path} holds a {header.architecture} model, which transformers cannot convert "
            "from GGUF"
        )
    return header.architecture, header.parameters


def _new_id(name: str) -> tuple[str, Path]:
    """ "local/<name>", numbered when that is taken."""
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.") or "model"
    for n in range(1, 1000):
        model_id = f"local/{base}" if n == 1 else f"local/{base}-{n}"
        target = registry.model_dir(model_id)
        if not target.exists():
            return model_id, target
    raise ModelError(f"too many imported models named {base}")


def _staging(target: Path) -> Path:
    staging = registry.partial_dir() / ("import-" + target.name)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _check_disk(needed: int, where: Path) -> None:
    fit = registry.disk_fit(needed, where)
    if fit.verdict == registry.WONT_FIT:
        raise ModelError(f"not enough disk space to import the model: it {fit.describe()}")


def _install(
    staging: Path,
    target: Path,
    model_id: str,
    role: str,
    origin: str,
    files: dict[str, tuple[int, str]],
    folder: ModelFolder,
) -> registry.InstalledModel:
    registry.write_manifest(
        staging,
        model_id=model_id,
        role=role,
        source="import",
        origin=origin,
        files=files,
        architecture=folder.model_type,
    )
    os.replace(staging, target)
    installed = registry.read_manifest(target)
    assert installed is not None
    return installed


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
