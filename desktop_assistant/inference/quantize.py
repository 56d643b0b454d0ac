"""Weight-only quantization of a causal LM for the CPU, run by the kernels torch ships.

- int8: per-output-channel symmetric weights, `aten._weight_int8pack_mm`.
- int4: group-wise asymmetric weights (min/max, the gpt-fast recipe), packed by
  `aten._convert_weight_to_int4pack_for_cpu` and run by `aten._weight_int4pack_mm_for_cpu`.
Both take bf16 activations (fp32 inputs take a path many times slower), so a quantized model
runs in bf16. The input embedding becomes an int8 table with a scale per row (a lookup reads a
few rows); a tied lm_head is untied and quantized like the other Linear layers.

Written over the aten ops (~150 lines) rather than depending on torchao: on torch 2.13 its
CPU int4 config is a prototype that calls the same op at the same speed, and its int8
weight-only config dequantizes to bf16 (slower than plain bf16), see issue 5.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)
SCHEMES = ("int8", "int4")
INT4_GROUP = 32  # measured: same kernel speed as 64 or 128 here, best agreement (bench quality)
# Layers whose input is the MLP's inner activation: it has large outlier channels, which
# per-token int8 activations lose (top-1 agreement 89% with them, 94% without). In the int8
# scheme they quantize their activations in two passes on our kernel (DynamicInt8Linear's
# `passes`), else keep bf16 activations (weight-only int8).
OUTLIER_INPUT_LAYERS = ("down_proj", "fc2", "w2", "dense_4h_to_h")
INNER_K_TILES = 2


def int4_kernel_available() -> bool:
    return hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")


def int8_rows(weight: torch.Tensor, top: int = 127) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row, values in [-top, top]: the values and one fp32 scale per row."""
    w = weight.detach().float()
    scales = (w.abs().amax(dim=1) / top).clamp(min=1e-8)
    return torch.round(w / scales[:, None]).clamp(-top, top).to(torch.int8), scales


class _Int8Rows(nn.Module):
    """A Linear's int8 weight with one scale per output row, and its bias, as buffers."""

    @staticmethod
    def weight_max() -> int:
        return 127

    weight: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scales", torch.empty(out_features, dtype=dtype))
        self.register_buffer("bias", torch.empty(out_features, dtype=dtype) if bias else None)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Any:
        module = cls(linear.in_features, linear.out_features, linear.bias is not None)  # type: ignore[call-arg]
        q, scales = int8_rows(linear.weight, cls.weight_max())
        module.weight, module.scales = q, scales.to(module.scales.dtype)
        if linear.bias is not None:
            module.bias = linear.bias.detach().to(module.scales.dtype)
        return module


class Int8Linear(_Int8Rows):
    """y = x @ (int8 weight * per-row scale).T + bias, with bf16 activations."""

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__(in_features, out_features, bias, torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch.ops.aten._weight_int8pack_mm(
            x.reshape(-1, shape[-1]).to(torch.bfloat16), self.weight, self.scales.bfloat16()
        )
        if self.bias is not None:
            y = y + self.bias.bfloat16()
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)


def int8_kernel() -> str:
    """Which kernel runs dynamic int8 here: "native" (ours), "fbgemm", or "none" (weight-only
    int8 only). The layers a model quantizes into depend on it (`_kind`)."""
    from desktop_assistant.inference import native

    if native.kernel() is not None:
        return "native"
    return "fbgemm" if fbgemm_available() else "none"


def dynamic_int8_available() -> bool:
    """Whether DynamicInt8Linear runs here: on our C kernel (native.py), else fbgemm's."""
    from desktop_assistant.inference import native

    return native.kernel() is not None or fbgemm_available()


@functools.cache
def fbgemm_available() -> bool:
    """Whether fbgemm's dynamic int8 GEMM runs in this torch.

    It is reached through quantized tensors, which torch 2.13 deprecates (pytorch issue
    184982). So this packs and runs one small layer: in a torch where that API is gone or
    broken, int8 falls back to the weight-only kernel `aten._weight_int8pack_mm` (Int8Linear,
    not deprecated; decode ~15% slower here) with the same cached weights, instead of failing
    at load. The one place that decides, for the chat, vision and speech engines.
    """
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return False
    try:
        packed = _fbgemm_pack(torch.ones(8, 64, dtype=torch.int8), torch.full((8,), 0.5))
        out = torch.ops.quantized.linear_dynamic(torch.ones(1, 64), packed, False)
    except (AttributeError, RuntimeError, NotImplementedError, TypeError) as err:
        log.warning("fbgemm's int8 GEMM does not run here (%s): weight-only int8 instead", err)
        return False
    return tuple(out.shape) == (1, 8) and abs(float(out[0, 0]) - 32.0) < 0.5


def _fbgemm_pack(weight: torch.Tensor, scales: torch.Tensor) -> Any:
    """fbgemm's packed form of an int8 weight with one scale per output row."""
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    # torch warns "quantized tensors are deprecated"; fbgemm's GEMM is still the fastest int8
    # kernel here (DynamicInt8Linear's doc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        q = torch._make_per_channel_quantized_tensor(weight, scales.double(), zeros, 0)
        return torch.ops.quantized.linear_prepack(q, None)


@functools.cache
def int8_pairs_saturate() -> bool:
    """Whether fbgemm's int8 GEMM adds pairs of products in a saturating int16 here.

    Without AVX-512 VNNI, fbgemm's u8 x s8 kernels add the products of two neighbouring
    inputs in int16 (`vpmaddubsw`): 255 * -128 twice is -65280, which clips to -32768, and
    layers came out 12-18% off the float result instead of under 1%. VNNI (`vpdpbusd`) sums
    into int32. Decided by running the kernel once on a product that saturates a 16-bit pair
    sum, so the answer is what this CPU's kernels really do (AVX2-only CPUs, AVX-512 without
    VNNI, and `FBGEMM_ENABLE_INSTRUCTIONS` capping fbgemm are all caught).
    """
    if not fbgemm_available():
        return False
    k = 64
    packed = _fbgemm_pack(torch.full((1, k), -128, dtype=torch.int8), torch.full((1,), 1 / 128))
    got = float(torch.ops.quantized.linear_dynamic(torch.ones(1, k), packed, False)[0, 0])
    return abs(got - (-k)) > 0.01 * k  # exact: -64; saturated pairs give about -32


def dynamic_weight_max() -> int:
    """The largest |int8 weight| of DynamicInt8Linear on this CPU: 127 on our kernel (exact on
    AVX2 and AVX-512 alike, int8_linear.c); on fbgemm's, 63 where it sums pairs of products in
    int16 (2 * 255 * 64 fits; the result is exact).

    Measured on Qwen2.5-Coder-0.5B with fbgemm capped to AVX2 (bench quality, 2,000 tokens):
    7-bit weights top-1 95.3%, perplexity x1.0084; 7-bit activations instead (PyTorch's
    `reduce_range`) 94.9%, x1.0235; the saturating 8-bit kernel (on a Zen 3, issue 17) 95.1%,
    x1.0145. With VNNI: 96.5%, x1.0017.
    """
    from desktop_assistant.inference import native

    kernel = native.kernel()
    if kernel is not None:
        return kernel.weight_max
    return 63 if int8_pairs_saturate() else 127


class DynamicInt8Linear(_Int8Rows):
    """int8 weights (per channel) and int8 activations quantized per call, by fbgemm.

    fbgemm's VNNI (AVX-512) and AVX2 GEMMs run a 1x896x4864 product in 52 us here, against
    131 us for the weight-only int8 and int4 kernels. The packed weight is built at load time
    from the int8 weight and scales kept in the state dict.

    fbgemm picks one activation range per call. For one token (decoding) that is per-token
    quantization already. For several (prefill) one outlier token would coarsen all the others
    and a token's result would depend on how the prompt was chunked, so each row is divided by
    its own absolute maximum and a last row holding +1 and -1 pins the range to [-1, 1]:
    per-token quantization whatever the batch (top-1 agreement with fp32 95.3% -> 96.5%).
    Not done for single tokens: its five extra small ops per layer cost 17% of decode speed.
    On fbgemm without VNNI the weights are kept to 7 bits (see `dynamic_weight_max`).
    """

    weight_max = staticmethod(dynamic_weight_max)

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__(in_features, out_features, bias, torch.float32)
        self.passes = 1  # 2: activations quantized twice (our kernel only, native.Kernel.linear)
        self._packed: Any = None
        self._native: Any = None  # native.Kernel, when it runs this layer
        self._row_sums: torch.Tensor | None = None

    def prepare(self) -> None:
        """Set the layer up for its kernel, at load rather than at the first token: our C
        kernel (native.py) needs the weight's row sums; fbgemm a packed copy of the weight
        (13 ms for 896x4864), after which ours is dropped."""
        from desktop_assistant.inference import native

        if self._native is not None or self._packed is not None:
            return
        kernel = native.kernel()
        if kernel is not None and self.in_features % native.K_MULTIPLE == 0:
            self.weight = self.weight.contiguous()
            self.scales = self.scales.float().contiguous()
            if self.bias is not None:
                self.bias = self.bias.float().contiguous()
            self._row_sums = kernel.row_sums(self.weight)
            self._native = kernel
            return
        self._packed = _fbgemm_pack(self.weight, self.scales)
        # fbgemm keeps its own copy: drop ours (it was saved to the cache at quantization)
        self.weight = torch.empty(0, dtype=torch.int8)
        self._range_row = torch.zeros(1, self.in_features)
        self._range_row[0, 0], self._range_row[0, -1] = 1.0, -1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None and self._native is None:
            self.prepare()
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).float()
        if self._native is not None:
            y = self._native.linear(
                flat.contiguous(), self.weight, self.scales, self._row_sums, self.bias, self.passes
            )
            return y.reshape(*shape[:-1], self.out_features).to(x.dtype)
        if flat.shape[0] == 1:
            y = torch.ops.quantized.linear_dynamic(flat, self._packed, False)
        else:
            peak = flat.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)
            rows = torch.cat([flat / peak, self._range_row])
            y = torch.ops.quantized.linear_dynamic(rows, self._packed, False)[:-1].mul_(peak)
        if self.bias is not None:
            y += self.bias
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)


class Int4Linear(nn.Module):
    """Group-wise 4-bit weights in torch's packed CPU layout, bf16 activations."""

    weight: torch.Tensor
    scales_and_zeros: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool, group_size: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        self.register_buffer(
            "weight", torch.empty(out_features, in_features // 2, dtype=torch.uint8)
        )
        self.register_buffer(
            "scales_and_zeros",
            torch.empty(in_features // group_size, out_features, 2, dtype=torch.bfloat16),
        )
        self.register_buffer(
            "bias", torch.empty(out_features, dtype=torch.bfloat16) if bias else None
        )

    @staticmethod
    def fits(linear: nn.Linear, group_size: int) -> bool:
        return linear.in_features % group_size == 0 and linear.out_features % 16 == 0

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int = INT4_GROUP) -> Int4Linear:
        w = linear.weight.detach().float()
        n, k = w.shape
        groups = w.reshape(-1, group_size)
        low, high = groups.amin(dim=1, keepdim=True), groups.amax(dim=1, keepdim=True)
        scales = ((high - low) / 15).clamp(min=1e-6)
        zeros = low + scales * 8  # the kernel computes (q - 8) * scale + zero
        q = ((groups - low) / scales).round().clamp(0, 15).to(torch.int32).reshape(n, k)
        module = cls(k, n, linear.bias is not None, group_size)
        module.weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, INNER_K_TILES)
        module.scales_and_zeros = (
            torch.cat([scales.reshape(n, -1, 1), zeros.reshape(n, -1, 1)], dim=2)
            .transpose(0, 1)
            .contiguous()
            .to(torch.bfloat16)
        )
        if linear.bias is not None:
            module.bias = linear.bias.detach().to(torch.bfloat16)
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x.reshape(-1, shape[-1]).to(torch.bfloat16).contiguous(),
            self.weight,
            self.group_size,
            self.scales_and_zeros,
        )
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)


class Int8Embedding(nn.Module):
    """An embedding table stored as int8 rows with one scale per row."""

    weight: torch.Tensor
    scales: torch.Tensor

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None, dtype: torch.dtype
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.register_buffer("weight", torch.empty(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("scales", torch.empty(num_embeddings, 1, dtype=dtype))

    @classmethod
    def from_embedding(cls, embedding: nn.Embedding, dtype: torch.dtype) -> Int8Embedding:
        module = cls(
            embedding.num_embeddings, embedding.embedding_dim, embedding.padding_idx, dtype
        )
        q, scales = int8_rows(embedding.weight)
        module.weight, module.scales = q, scales[:, None].to(dtype)
        return module

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids].to(self.scales.dtype) * self.scales[ids]


def activation_dtype(scheme: str) -> torch.dtype:
    """int4 and weight-only int8 kernels want bf16 activations; fbgemm's int8 GEMM takes fp32."""
    return torch.float32 if scheme == "int8" and dynamic_int8_available() else torch.bfloat16


def _kind(name: str, linear: nn.Linear, scheme: str, group_size: int) -> type[nn.Module]:
    """Which quantized module a Linear becomes (see the module doc and bench quality)."""
    leaf = name.rsplit(".", 1)[-1]
    dynamic = dynamic_int8_available()
    if scheme == "int4":
        if leaf == "lm_head" and dynamic:
            return DynamicInt8Linear  # int4 logits cost 1.5 points of top-1 agreement
        if Int4Linear.fits(linear, group_size):
            return Int4Linear
        return Int8Linear
    if dynamic and leaf not in OUTLIER_INPUT_LAYERS:
        return DynamicInt8Linear
    if leaf in OUTLIER_INPUT_LAYERS and _two_passes(linear):
        return DynamicInt8Linear
    return Int8Linear


def _two_passes(linear: nn.Linear) -> bool:
    """Whether our kernel runs this layer with its activations quantized in two passes."""
    from desktop_assistant.inference import native

    return native.kernel() is not None and linear.in_features % native.K_MULTIPLE == 0


def _passes(name: str, module: nn.Module) -> nn.Module:
    if isinstance(module, DynamicInt8Linear) and name.rsplit(".", 1)[-1] in OUTLIER_INPUT_LAYERS:
        module.passes = 2
    return module


def _quantized_linear(name: str, linear: nn.Linear, scheme: str, group_size: int) -> nn.Module:
    kind = _kind(name, linear, scheme, group_size)
    if kind is Int4Linear:
        return Int4Linear.from_linear(linear, group_size)
    return _passes(name, kind.from_linear(linear))  # type: ignore[attr-defined]


def _skeleton_linear(name: str, linear: nn.Linear, scheme: str, group_size: int) -> nn.Module:
    kind = _kind(name, linear, scheme, group_size)
    bias = linear.bias is not None
    if kind is Int4Linear:
        return Int4Linear(linear.in_features, linear.out_features, bias, group_size)
    return _passes(name, kind(linear.in_features, linear.out_features, bias))


QUANTIZED = (Int8Linear, Int4Linear, DynamicInt8Linear, Int8Embedding)


def prepare(model: Any) -> Any:
    """Do the one-time kernel set-up of every quantized layer now, on as many threads as torch
    uses: fbgemm packs one weight on one core (Qwen2.5-0.5B: 2.4 s serially at every start,
    1.2 s on 2 threads; torch releases the GIL inside the op)."""
    from concurrent.futures import ThreadPoolExecutor

    from desktop_assistant.inference import native

    native.kernel()  # built (once) here, not by two of the threads below at the same time
    layers = [m for m in model.modules() if isinstance(m, DynamicInt8Linear)]
    workers = max(1, min(torch.get_num_threads(), len(layers)))
    if workers == 1:
        for layer in layers:
            layer.prepare()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="int8-pack") as pool:
            list(pool.map(DynamicInt8Linear.prepare, layers))
    from desktop_assistant.inference.head import ShortlistHead

    for head in model.modules():
        if isinstance(head, ShortlistHead):
            head.prepare()  # its nibble planes, on the kernel's threads
    return model


def packed_bytes(module: nn.Module) -> int:
    """Weight bytes held outside the module's tensors (fbgemm's packed copy)."""
    if isinstance(module, DynamicInt8Linear) and module._packed is not None:
        return module.in_features * module.out_features
    return 0


def cast_float_parts(model: Any, dtype: torch.dtype) -> Any:
    """Cast the unquantized parameters and buffers (norms, biases of float layers) to dtype;
    quantized modules keep the dtypes their kernels need."""
    for module in model.modules():
        if isinstance(module, QUANTIZED):
            continue
        for name, param in list(module.named_parameters(recurse=False)):
            if param.is_floating_point() and param.dtype != dtype:
                setattr(module, name, nn.Parameter(param.detach().to(dtype), requires_grad=False))
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf is not None and buf.is_floating_point() and buf.dtype != dtype:
                setattr(module, name, buf.to(dtype))
    return model


def quantize_model(model: Any, scheme: str, group_size: int = INT4_GROUP) -> Any:
    """Replace, in place, every nn.Linear (lm_head included) and the input embedding."""
    dtype = activation_dtype(scheme)
    _replace(
        model,
        scheme,
        lambda name, lin: _quantized_linear(name, lin, scheme, group_size),
        lambda emb: Int8Embedding.from_embedding(emb, dtype),
    )
    return cast_float_parts(model, dtype)


def make_skeleton(model: Any, scheme: str, group_size: int = INT4_GROUP) -> Any:
    """Same module tree as `quantize_model` produces, with empty tensors (to load into)."""
    dtype = activation_dtype(scheme)
    _replace(
        model,
        scheme,
        lambda name, lin: _skeleton_linear(name, lin, scheme, group_size),
        lambda emb: Int8Embedding(emb.num_embeddings, emb.embedding_dim, emb.padding_idx, dtype),
    )
    return model


def _replace(model: Any, scheme: str, linear_fn: Any, embedding_fn: Any) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization scheme {scheme!r}")
    model.config.tie_word_embeddings = False
    embedding = model.get_input_embeddings()
    head = model.get_output_embeddings()
    if head is not None and head.weight is embedding.weight:  # tied: give the head its own copy
        head.weight = nn.Parameter(embedding.weight.detach().clone())
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, linear_fn(f"{parent_name}.{name}", child))
            elif child is embedding:
                setattr(parent, name, embedding_fn(child))
