"""What this CPU is and can do, read from the system rather than from how torch was built.

Used to name the machine next to every measured figure and to record, in the quantized-model
cache, what the int8 kernels were chosen for. On Linux the flags come from /proc/cpuinfo;
elsewhere the set is empty and callers fall back to probing the kernels themselves.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide which int8 and bf16 kernels a CPU runs (Linux's names).
NOTABLE = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # one processor is enough: they are alike
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name() -> str:
    info = _cpuinfo()
    return info.get("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> frozenset[str]:
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def has_avx512_vnni() -> bool | None:
    """Whether the CPU has AVX-512 VNNI (int8 dot products into int32); None if unknown."""
    flags = cpu_flags()
    if not flags:
        return None
    return "avx512_vnni" in flags


def describe() -> dict[str, object]:
    """The CPU for reports: its name and the flags of NOTABLE it has."""
    flags = cpu_flags()
    return {"cpu": cpu_name(), "cpu_flags": [f for f in NOTABLE if f in flags]}
