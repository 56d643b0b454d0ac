"""The int8 linear kernel written in C (int8_linear.c): compiled once, loaded with ctypes.

Besides the int8 product (`linear`) it holds the decoder layers of the Llama / Qwen2 family
for a few tokens (`decode_layers`, used by llama_forward.py), the weights' row sums, and the
two 4-bit planes of a large output layer that head.py's shortlist reads (`nibble_split`,
`int4_scores`).

It is compiled with the system's C compiler (`$CC`, else `cc` or `gcc`) the first time a model
loads, into the cache folder under a name that hashes the source, the flags and the compiler
(about half a second), and reused after. Where there is no compiler, no AVX2, or the build
fails, `kernel()` is None: DynamicInt8Linear keeps fbgemm's GEMM (quantize.py) and the
layers run in torch; the app works the same, decoding more slowly (fbgemm's GEMM ~20%, the
torch layers another ~20%). DESKTOP_ASSISTANT_NATIVE=0 turns it off (comparisons).

Written by hand because no kernel torch ships reads int8 weights at memory speed for one
token on these CPUs (issue 17: fbgemm 17-25 GB/s, `_weight_int8pack_mm` 12-19 GB/s, this
27-30 GB/s on 2 cores of a Zen 4, with and without AVX-512), and a plain C file built with
the system compiler needs neither torch's headers nor ninja.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("int8_linear.c")
FLAGS = ("-O3", "-fopenmp", "-shared", "-fPIC", "-mavx2", "-mfma", "-fno-math-errno")
LIBS = ("-lm",)
VNNI, AVX_VNNI, AVX2 = 2, 3, 1  # the kernel's `isa` argument
ISA_NAMES = {VNNI: "AVX-512 VNNI", AVX_VNNI: "AVX-VNNI", AVX2: "AVX2"}
K_MULTIPLE = 64  # input features must be a multiple of this


class LinearArgs(ctypes.Structure):
    """int8_linear.c's `Linear`: one DynamicInt8Linear's tensors, by address."""

    _fields_ = [
        ("weight", ctypes.c_void_p),
        ("scales", ctypes.c_void_p),
        ("row_sums", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("out_features", ctypes.c_int),
        ("in_features", ctypes.c_int),
        ("passes", ctypes.c_int),
    ]


class LayerArgs(ctypes.Structure):
    """int8_linear.c's `Layer`: what `decode_layer` needs of one decoder layer."""

    _fields_ = [
        ("qkv", LinearArgs),
        ("o", LinearArgs),
        ("gate_up", LinearArgs),
        ("down", LinearArgs),
        ("attn_norm", ctypes.c_void_p),
        ("mlp_norm", ctypes.c_void_p),
        ("attn_eps", ctypes.c_float),
        ("mlp_eps", ctypes.c_float),
        ("heads", ctypes.c_int),
        ("kv_heads", ctypes.c_int),
        ("head_dim", ctypes.c_int),
        ("inner", ctypes.c_int),
        ("scaling", ctypes.c_float),
    ]


def linear_args(layer: Any) -> LinearArgs:
    """The addresses of a prepared DynamicInt8Linear on this kernel (it must outlive them)."""
    bias = layer.bias
    return LinearArgs(
        layer.weight.data_ptr(),
        layer.scales.data_ptr(),
        layer._row_sums.data_ptr(),
        bias.data_ptr() if bias is not None else None,
        layer.out_features,
        layer.in_features,
        layer.passes,
    )


@dataclass(frozen=True)
class Kernel:
    function: Any
    isa: int
    path: Path
    layers_function: Any = None
    sums_function: Any = None
    split_function: Any = None
    scores4_function: Any = None
    planes_function: Any = None

    @property
    def weight_max(self) -> int:
        """Largest |int8 weight| the kernel sums exactly: all of int8 (both paths add in int32)."""
        return 127

    def linear(
        self, x: Any, weight: Any, scales: Any, row_sums: Any, bias: Any, passes: int = 1
    ) -> Any:
        """x [M, K] fp32 contiguous -> [M, N] fp32; weight [N, K] int8, scales [N] fp32,
        row_sums [N] int32 (weight.sum(1)), bias [N] fp32 or None. passes=2 quantizes each
        row twice (the second time what the first missed): about twice the activation bits
        for the same weight reads, twice the arithmetic."""
        import torch

        m, k = x.shape
        n = weight.shape[0]
        y = torch.empty(m, n, dtype=torch.float32)
        failed = self.function(
            weight.data_ptr(),
            scales.data_ptr(),
            row_sums.data_ptr(),
            bias.data_ptr() if bias is not None else None,
            x.data_ptr(),
            m,
            k,
            n,
            y.data_ptr(),
            torch.get_num_threads(),
            self.isa,
            passes,
        )
        if failed:
            raise MemoryError("out of memory in the int8 kernel")
        return y

    def row_sums(self, weight: Any, threads: int = 1) -> Any:
        """weight [N, K] int8 contiguous -> weight.sum(1) as int32 [N]."""
        import torch

        out = torch.empty(weight.shape[0], dtype=torch.int32)
        self.sums_function(
            weight.data_ptr(), weight.shape[0], weight.shape[1], out.data_ptr(), threads
        )
        return out

    def nibble_split(self, weight: Any) -> tuple[Any, Any, Any]:
        """weight [N, K] int8 contiguous -> its high and low nibble planes [N, K / 2] uint8
        and the rows' sums of the high nibbles [N] int32 (int8_linear.c's `nibble_split`)."""
        import torch

        n, k = weight.shape
        high = torch.empty(n, k // 2, dtype=torch.uint8)
        low = torch.empty(n, k // 2, dtype=torch.uint8)
        high_sum = torch.empty(n, dtype=torch.int32)
        self.split_function(
            weight.data_ptr(),
            n,
            k,
            high.data_ptr(),
            low.data_ptr(),
            high_sum.data_ptr(),
            torch.get_num_threads(),
        )
        return high, low, high_sum

    def int4_scores(self, x: Any, plane: Any, scales: Any, sums: Any, offsets: Any) -> Any:
        """x [M, K] fp32 contiguous -> [M, N] fp32: x times the 4-bit weights scales[n] *
        nibble + offsets[n], the nibbles a plane of `nibble_split` (sums: its `high_sum`)."""
        import torch

        m, k = x.shape
        n = plane.shape[0]
        y = torch.empty(m, n, dtype=torch.float32)
        failed = self.scores4_function(
            plane.data_ptr(),
            scales.data_ptr(),
            sums.data_ptr(),
            offsets.data_ptr(),
            x.data_ptr(),
            m,
            k,
            n,
            y.data_ptr(),
            torch.get_num_threads(),
            self.isa,
        )
        if failed:
            raise MemoryError("out of memory in the int4 kernel")
        return y

    def planes_linear(
        self,
        x: Any,
        planes: tuple[Any, Any],
        scales: Any,
        row_sums: Any,
        bias: Any,
        ids: Any,
    ) -> Any:
        """x [M, K] fp32 contiguous, ids [M, S] int64 -> [M, S] fp32: the logits `linear` gives
        tokens ids[m] (to the bit), their int8 weights read from `nibble_split`'s planes."""
        import torch

        m, k = x.shape
        ids = ids.contiguous()
        y = torch.empty(m, ids.shape[1], dtype=torch.float32)
        failed = self.planes_function(
            planes[0].data_ptr(),
            planes[1].data_ptr(),
            scales.data_ptr(),
            row_sums.data_ptr(),
            bias.data_ptr() if bias is not None else None,
            ids.data_ptr(),
            ids.shape[1],
            x.data_ptr(),
            m,
            k,
            y.data_ptr(),
        )
        if failed:
            raise MemoryError("out of memory in the int8 kernel")
        return y

    def decode_layers(
        self, layers: Any, x: Any, rope: tuple[Any, Any], keys: Any, values: Any, pos: int
    ) -> None:
        """Every decoder layer for a few tokens: `layers` a ctypes array of LayerArgs, x
        [tokens, D] fp32 contiguous updated in place; keys and values [layers, 1, kv heads,
        capacity, head dim] fp32 contiguous (what KVCache holds), the tokens written from pos;
        rope: the rotary table's cos and signed sin rows for those positions, [tokens, head
        dim] fp32 contiguous."""
        import torch

        failed = self.layers_function(
            layers,
            len(layers),
            x.data_ptr(),
            x.shape[0],
            rope[0].data_ptr(),
            rope[1].data_ptr(),
            keys.data_ptr(),
            values.data_ptr(),
            keys[0].numel(),
            keys.shape[-2],
            pos,
            torch.get_num_threads(),
            self.isa,
        )
        if failed:
            raise MemoryError("out of memory in the decoder layer kernel")


def _isa() -> int:
    """VNNI where the CPU has it and torch is not capped below AVX-512 (ATEN_CPU_CAPABILITY,
    how benchmarks emulate an AVX2-only laptop); AVX-VNNI where it has that (Intel's laptop
    chips since the 12th generation, which have no AVX-512); AVX2 where it has that; else 0.
    DESKTOP_ASSISTANT_NO_AVX_VNNI=1 leaves AVX-VNNI out (emulating an AVX2-only CPU without
    it, such as Zen 3, on one that has it)."""
    import torch

    from desktop_assistant.core.cpu import cpu_flags, has_avx512_vnni

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return 0
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.startswith("AVX512") and has_avx512_vnni():
        return VNNI
    if not capability.startswith(("AVX2", "AVX512")):
        return 0
    if "avx_vnni" in cpu_flags() and os.environ.get("DESKTOP_ASSISTANT_NO_AVX_VNNI") != "1":
        return AVX_VNNI
    return AVX2


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def _build(compiler: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        built = Path(scratch) / out.name
        subprocess.run(
            [compiler, *FLAGS, str(SOURCE), "-o", str(built), *LIBS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        os.replace(built, out)  # atomic: a second process sees all of it or none


def library_path(compiler: str) -> Path:
    from desktop_assistant.core import paths

    digest = hashlib.sha256()
    digest.update(SOURCE.read_bytes())
    digest.update(" ".join((compiler, *FLAGS, *LIBS)).encode())
    return paths.cache_dir() / "native" / f"int8_linear-{digest.hexdigest()[:16]}.so"


@functools.cache
def kernel() -> Kernel | None:
    """The kernel, built on first use; None where it cannot run here (see the module doc)."""
    if os.environ.get("DESKTOP_ASSISTANT_NATIVE", "1") == "0":
        return None
    if platform.system() != "Linux":
        return None  # macOS and Windows: not built or tested there yet
    isa = _isa()
    compiler = _compiler()
    if not isa or compiler is None:
        log.info(
            "no native int8 kernel (isa %s, compiler %s): fbgemm's GEMM instead", isa, compiler
        )
        return None
    out = library_path(compiler)
    try:
        if not out.is_file():
            _build(compiler, out)
        lib = ctypes.CDLL(str(out))
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        log.warning(
            "could not build the int8 kernel (%s %s): fbgemm's GEMM instead",
            err,
            detail.decode(errors="replace")[-500:],
        )
        return None
    if isa == AVX_VNNI and not lib.avxvnni_built():  # a compiler older than GCC 11
        isa = AVX2
    function = lib.int8_linear
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    function.argtypes = [pointer] * 5 + [integer] * 3 + [pointer] + [integer] * 3
    function.restype = integer
    layers_function = lib.decode_layers
    layers_function.argtypes = [ctypes.POINTER(LayerArgs), integer, pointer, integer]
    layers_function.argtypes += [pointer] * 4
    layers_function.argtypes += [ctypes.c_size_t] + [integer] * 4
    layers_function.restype = integer
    sums_function = lib.row_sums
    sums_function.argtypes = [pointer, integer, integer, pointer, integer]
    sums_function.restype = None
    split_function = lib.nibble_split
    split_function.argtypes = [pointer, integer, integer, pointer, pointer, pointer, integer]
    split_function.restype = None
    scores4_function = lib.int4_scores
    scores4_function.argtypes = [pointer] * 5 + [integer] * 3 + [pointer] + [integer] * 2
    scores4_function.restype = integer
    planes_function = lib.planes_linear
    planes_function.argtypes = [pointer] * 6 + [integer, pointer, integer, integer, pointer]
    planes_function.restype = integer
    return Kernel(
        function,
        isa,
        out,
        layers_function,
        sums_function,
        split_function,
        scores4_function,
        planes_function,
    )
