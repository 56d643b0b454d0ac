"""Quantize a model folder once; later loads map the packed weights from the cache.

Each cache entry is a folder with `model.safetensors` (the quantized state dict) and
`manifest.json`, which records what it was made from: the source folder's fingerprint, the
scheme, torch's version, the CPU kernel family and whether the CPU has VNNI, the int8 kernel
and the int8 weight range chosen for it (7 bits on fbgemm without VNNI, see
quantize.dynamic_weight_max). Any difference re-quantizes, so an entry made on one CPU is not
taken for right on another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mmap
import os
import shutil
import time
import weakref
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from desktop_assistant.core import paths

log = logging.getLogger(__name__)
# 2: the entry holds config.json and the tokenizer; 3: the int8 weight range is recorded;
# 4: the int8 kernel is recorded (with ours, the MLP's down projection is dynamic int8)
FORMAT = 4


def fingerprint(folder: Path) -> str:
    """Cheap identity of a model's weights: names, sizes and safetensors headers (for a GGUF
    file: its size and first 16 MB, which hold its metadata and tensor index)."""
    digest = hashlib.sha256()
    if folder.is_file():
        digest.update(f"{folder.name}:{folder.stat().st_size}".encode())
        with open(folder, "rb") as f:
            digest.update(f.read(16 << 20))
        return digest.hexdigest()
    for path in sorted(folder.glob("*.safetensors")) + [folder / "config.json"]:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
        with open(path, "rb") as f:
            if path.suffix == ".safetensors":
                size = int.from_bytes(f.read(8), "little")
                digest.update(f.read(min(size, 50_000_000)))
            else:
                digest.update(f.read())
    return digest.hexdigest()


def entry_dir(folder: Path, scheme: str, group_size: int) -> Path:
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return paths.cache_dir() / "quantized" / f"{folder.name}-{where}" / f"{scheme}-g{group_size}"


def _manifest(folder: Path, scheme: str, group_size: int) -> dict[str, Any]:
    import torch

    from desktop_assistant.core.cpu import has_avx512_vnni
    from desktop_assistant.inference.quantize import dynamic_weight_max, int8_kernel

    return {
        "format": FORMAT,
        "source": str(folder.resolve()),
        "fingerprint": fingerprint(folder),
        "scheme": scheme,
        "group_size": group_size,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_vnni": has_avx512_vnni(),
        "int8_weight_max": dynamic_weight_max(),
        "int8_kernel": int8_kernel(),
    }


def is_current(folder: Path, scheme: str, group_size: int) -> bool:
    entry = entry_dir(folder, scheme, group_size)
    try:
        stored = json.loads((entry / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    wanted = _manifest(folder, scheme, group_size)
    stored.pop("created", None)
    stored.pop("quantize_s", None)
    return stored == wanted and (entry / "model.safetensors").is_file()


def save(
    model: Any, tokenizer: Any, folder: Path, scheme: str, group_size: int, quantize_s: float
) -> Path:
    """Write the quantized state dict, the config and the tokenizer (so a GGUF source is never
    parsed again) and, last, the manifest that makes the entry current."""
    from safetensors.torch import save_file

    entry = entry_dir(folder, scheme, group_size)
    tmp = entry.with_name(entry.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    model.config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    manifest = _manifest(folder, scheme, group_size)
    manifest.update(created=time.time(), quantize_s=round(quantize_s, 2))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(tmp, entry)
    return entry


def load(
    folder: Path, scheme: str, group_size: int, build_skeleton: Callable[[], Any], dtype: Any
) -> Any:
    """Load the cached quantized weights into the skeleton `build_skeleton()` returns."""
    entry = entry_dir(folder, scheme, group_size)
    model = build_skeleton()
    from desktop_assistant.inference.head import will_shortlist

    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    mapped = [
        f"{name}.weight"
        for name, m in model.named_modules()
        if m is embedding or (m is head and will_shortlist(head))
    ]
    state = read_safetensors(entry / "model.safetensors", mapped)
    model.load_state_dict(state, assign=True, strict=True)
    _materialize_meta_buffers(model)
    if any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
        raise RuntimeError("some tensors were not in the cache")
    from desktop_assistant.inference.quantize import cast_float_parts

    return cast_float_parts(model, dtype).eval()


_DTYPES = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
}


def read_safetensors(path: Path, mapped: Collection[str] = ()) -> dict[str, Any]:
    """Read a safetensors file straight into freshly allocated (64-byte aligned) tensors;
    those named in `mapped` are mapped from the file instead (copy-on-write).

    The input embedding table is mapped: a token reads one row of it, so only the rows used
    are ever in memory (Qwen2.5-0.5B: 136 MB of int8 rows, of which a conversation touches a
    few hundred kB). So is a large output layer that head.py's shortlist reads (its pages
    given back with `release_pages` as it is split into nibble planes). Nothing else is, for
    the reasons below.

    Hand-written over the documented format (8-byte header size, JSON header, raw data)
    because safetensors' own loaders either map the file (tensors at 8-byte offsets, which
    crash the packed-weight kernels' aligned loads, and page-fault at ~200 MB/s when copied:
    2.5 s for a 0.5B int4 model) or read it into one buffer that then has to be copied (twice
    the memory at peak). Here each tensor is read once, in file order, into its own memory.
    """
    import torch

    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        header.pop("__metadata__", None)
        base = 8 + size
        state = {}
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if mapped else None
        for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            start, end = info["data_offsets"]
            dtype = getattr(torch, _DTYPES[info["dtype"]])
            if mapping is not None and name in mapped:
                if base + end > len(mapping):
                    raise ValueError(f"{path} is truncated at tensor {name}")
                count = math.prod(info["shape"])
                flat = torch.frombuffer(mapping, dtype=dtype, count=count, offset=base + start)
                state[name] = flat.view(info["shape"])
                _MAPPED[id(state[name])] = state[name]
                continue
            tensor = torch.empty(info["shape"], dtype=dtype)
            view = memoryview(tensor.view(-1).view(torch.uint8).numpy())  # type: ignore[arg-type]
            f.seek(base + start)
            if f.readinto(view) != end - start:
                raise ValueError(f"{path} is truncated at tensor {name}")
            state[name] = tensor
    return state


# the tensors read_safetensors mapped from a file (not copied), by id, while they live
_MAPPED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_MADV_DONTNEED = 4  # Linux


def release_pages(tensor: Any, rows: slice = slice(None)) -> bool:
    """Give back the memory of (some rows of) a tensor `read_safetensors` mapped (read from the
    file again if touched again), once read; False, and nothing done, for any other tensor
    (memory of its own would lose its contents)."""
    import ctypes

    mapped: Any = _MAPPED.get(id(tensor))
    if mapped is None or mapped is not tensor or os.name != "posix":
        return False
    part = tensor[rows]
    page = mmap.PAGESIZE
    start = -(-part.data_ptr() // page) * page  # whole pages inside those rows only
    end = (part.data_ptr() + part.numel() * part.element_size()) // page * page
    if end <= start:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise(start, end - start, _MADV_DONTNEED) == 0


def _materialize_meta_buffers(model: Any) -> None:
    """Buffers not saved in state dicts (rotary inv_freq) are rebuilt from the config."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if any(b.is_meta for b in child.buffers(recurse=False)) and hasattr(child, "inv_freq"):
                config = getattr(child, "config", None) or model.config
                setattr(parent, name, type(child)(config=config))
