"""Will a model fit in memory? Asked before loading or converting it, from its real size.

A model that does not fit gets the app killed by the kernel's OOM killer, with whatever was not
yet saved; a 7B GGUF, for one, is expanded through bf16 before it is quantized (about 6 bytes
per parameter at the peak). So the parameter count is read from the files (the safetensors
headers, the GGUF tensor table: no weights are read), multiplied by what loading that way was
measured to take, and compared with the memory the system can give (`available`: free memory
plus the page cache it can drop). "auto" then takes the best precision that fits; a precision
the user chose, or a conversion that cannot fit in any precision, is refused with a message
that says how much is needed and how much is free.

Measured (peak RSS of `desktop-assistant ask`, minus about 0.4 GB for the libraries) on
Qwen2.5-Coder-0.5B-Instruct (630 M parameters in its files, the output matrix included), Zen 4,
2 vCPUs, torch 2.13:

| how | peak RSS | bytes per parameter |
|---|---|---|
| GGUF Q4_K_M, converted and quantized to int8 (first load) | 3.49 GB | 4.9 |
| GGUF Q4_K_M to bf16 | 3.02 GB | 4.2 |
| bf16 folder quantized to int8 or int4 (first load) | 2.76 GB | 3.7 |
| bf16 folder as bf16 | 1.50 GB | 1.7 |
| bf16 folder as fp32 | 4.09 GB | 5.9 |
| cached int8 (our kernel and forward, issue 17) | 0.86 GB | 0.73 |
| cached int4 | 0.70 GB | 0.48 |

`BYTES_PER_PARAM` rounds these up a little; a GGUF as fp32 was not measured (bf16's figure
plus the 4 bytes of the fp32 copy). The mapped weight files count in RSS although the kernel
can drop their pages, so these figures are on the safe side.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from desktop_assistant.core.errors import ModelError
from desktop_assistant.models.model_folder import ModelFolder

log = logging.getLogger(__name__)
GB = 1e9
LIBRARIES = 400_000_000  # torch, transformers and a tokenizer, before any weights
BYTES_PER_PARAM: dict[tuple[str, str], float] = {
    # (how the weights are read, the precision they end in): the table above, rounded up
    ("gguf", "int8"): 5.2,
    ("gguf", "int4"): 5.2,
    ("gguf", "bf16"): 4.5,
    ("gguf", "fp32"): 8.5,
    ("folder", "int8"): 4.0,
    ("folder", "int4"): 4.0,
    ("folder", "bf16"): 1.9,
    ("folder", "fp32"): 6.2,
    ("cached", "int8"): 1.0,  # room for a long conversation's KV cache beside the 0.73
    ("cached", "int4"): 0.7,
}


@dataclass(frozen=True)
class Need:
    precision: str
    bytes: int
    converting: bool  # the first load: read in full precision, then quantized (and cached)

    @property
    def gb(self) -> float:
        return self.bytes / GB


def parameters(folder: ModelFolder) -> int:
    """How many parameters the model has, from its files' headers (read once per version of
    the files)."""
    files = [folder.path] if folder.gguf else sorted(folder.path.glob("*.safetensors"))
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _parameters(folder.path, folder.gguf, stamp)


@functools.lru_cache(maxsize=16)
def _parameters(path: Path, gguf: bool, stamp: tuple[tuple[str, int, int], ...]) -> int:
    if gguf:
        from desktop_assistant.models.gguf_header import read_header

        return read_header(path).parameters
    return _safetensors_parameters(path)


def _safetensors_parameters(path: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="numpy") as weights:
                for name in weights.keys():  # noqa: SIM118 (safe_open is not a dict)
                    count = 1
                    for size in weights.get_slice(name).get_shape():
                        count *= int(size)
                    total += count
        except Exception as err:  # a torn header: loading will say so in its own words
            log.info("cannot read the header of %s (%s)", file, err)
            total += file.stat().st_size // 2
    return total


def need(folder: ModelFolder, precision: str, cached: bool = False) -> Need:
    """The peak memory loading `folder` in `precision` takes; `cached`: a quantized copy is
    already on disk (then only that copy is read)."""
    how = (
        "cached"
        if cached and precision in ("int8", "int4")
        else ("gguf" if folder.gguf else "folder")
    )
    converting = how != "cached" and precision in ("int8", "int4")
    per_param = BYTES_PER_PARAM[(how, precision)]
    return Need(precision, int(LIBRARIES + per_param * parameters(folder)), converting)


def available() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(folder: ModelFolder, wanted: Need, smaller: Need | None = None) -> None:
    """`ModelError` when `wanted` is more than the system can give now."""
    free = available()
    if wanted.bytes <= free:
        return
    doing = (
        "convert and quantize it (the first time only)"
        if wanted.converting
        else f"load it in {wanted.precision}"
    )
    advice = "Close other programs, or choose a smaller model"
    if smaller is not None and smaller.bytes <= free:
        advice += f" or the {smaller.precision} precision (about {smaller.gb:.1f} GB)"
    raise ModelError(
        f"{folder.name} needs about {wanted.gb:.1f} GB of memory to {doing}, and only "
        f"{free / GB:.1f} GB is free. {advice}."
    )
