"""Our int8 linear kernel (inference/int8_linear.c through native.py).

Checked against the same arithmetic in torch (activations quantized per row to 255 levels,
integer products, the two scales): equal to float rounding, for each of its paths (AVX-512
VNNI and AVX-VNNI where the CPU has them, AVX2 on any x86-64 machine with AVX2), at every
tile edge: one token (decoding), a few (a prompt-lookup draft), a prefill-sized block, row
counts that are not multiples of 4 or of 64.
"""

from __future__ import annotations

import os

import pytest
import torch

from desktop_assistant.inference import native, quantize


def _quantized(x):
    """The kernel's per-row quantization in torch: u = round(x / s) + z over the row's range
    (including 0), s = (max - min) / 255, z = round(-min / s); x ~ (u - z) * s."""
    lo = x.amin(dim=1, keepdim=True).clamp(max=0)
    hi = x.amax(dim=1, keepdim=True).clamp(min=0)
    s = torch.where(hi > lo, (hi - lo) / 255, torch.ones_like(hi))
    z = torch.floor(-lo / s + 0.5)
    u = torch.floor(x / s + z + 0.5).clamp(0, 255)  # round half up, as the kernel does
    return u, z, s


def _expected(x, weight, scales, bias, passes=1):
    """The kernel's arithmetic in torch; a second pass quantizes what the first missed. Also
    how far a result may be off: float rounding, and for two passes one level of the second
    (its input, the first pass's remainder, is rounded differently in C: fused multiply-add)."""
    y = torch.zeros(x.shape[0], weight.shape[0], dtype=torch.float64)
    rest = x
    for _ in range(passes):
        u, z, s = _quantized(rest)
        y += ((u - z).double() @ weight.double().T) * s.double()
        rest = rest - (u - z) * s
    y = y * scales.double()
    level = float(s.max() * weight.abs().max() * scales.max()) if passes > 1 else 0.0
    return (y + bias.double() if bias is not None else y).float(), 1e-4 + 2 * level


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 17, 64])
@pytest.mark.parametrize("n,k", [(1, 64), (7, 128), (130, 896), (67, 192)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("passes", [1, 2])
def test_same_result_as_the_arithmetic_it_implements(kernel_paths, m, n, k, bias, passes):
    torch.manual_seed(m * 1000 + n + k)
    for path in kernel_paths:
        limit = path.weight_max
        weight = torch.randint(-limit, limit + 1, (n, k), dtype=torch.int8)
        scales = torch.rand(n) / 100 + 1e-3
        b = torch.randn(n) if bias else None
        x = torch.randn(m, k) * 3
        x[0, 0] = 0.0
        got = path.linear(x, weight, scales, weight.sum(dim=1, dtype=torch.int32), b, passes)
        want, atol = _expected(x, weight, scales, b, passes)
        assert got.shape == (m, n)
        assert torch.allclose(got, want, rtol=1e-4, atol=atol), (
            path.isa,
            float((got - want).abs().max()),
        )


def test_two_passes_keep_outlier_channels(kernel):
    """One huge channel sets a row's range: one pass rounds the small ones away, two keep
    them (the MLP's inner activation, quantize.OUTLIER_INPUT_LAYERS)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 64, bias=False)
    x = torch.randn(3, 256) * 0.05
    x[:, 7] = 80.0
    layer = quantize.DynamicInt8Linear.from_linear(linear)
    layer.prepare()
    want = x @ (layer.weight.float() * layer.scales[:, None]).T  # the activations' error only
    errors = {}
    for passes in (1, 2):
        layer.passes = passes
        errors[passes] = float((layer(x) - want).norm() / want.norm())
    assert errors[2] < errors[1] / 3, errors


def test_a_one_sided_row_uses_all_levels(kernel):
    """All positive inputs: 256 levels over [0, max], not half of them."""
    weight = torch.eye(64, dtype=torch.int8)
    x = torch.linspace(0, 1, 64)[None]
    got = kernel.linear(x, weight, torch.ones(64), weight.sum(1, dtype=torch.int32), None)
    assert float((got - x).abs().max()) <= 0.5 / 255 + 1e-6


def test_a_zero_row_gives_the_bias(kernel):
    weight = torch.ones(8, 64, dtype=torch.int8)
    bias = torch.arange(8, dtype=torch.float32)
    got = kernel.linear(
        torch.zeros(2, 64), weight, torch.ones(8), weight.sum(1, dtype=torch.int32), bias
    )
    assert torch.equal(got, bias.expand(2, 8))


def test_layers_use_it_and_match_float(kernel):
    linear = torch.nn.Linear(128, 96)
    layer = quantize.DynamicInt8Linear.from_linear(linear)
    layer.prepare()
    assert layer._native is kernel and layer._packed is None
    assert int(layer.weight.abs().max()) <= kernel.weight_max
    for shape in ((1, 1, 128), (2, 9, 128)):
        x = torch.randn(shape)
        want = linear(x).detach()
        got = layer(x)
        assert got.shape == want.shape
        assert float((got - want).norm() / want.norm()) < 0.03


def test_features_not_a_multiple_of_64_stay_on_fbgemm(kernel):
    if not quantize.fbgemm_available():
        pytest.skip("no fbgemm here")
    layer = quantize.DynamicInt8Linear.from_linear(torch.nn.Linear(96, 16))
    layer.prepare()
    assert layer._native is None and layer._packed is not None


def test_built_once_into_the_cache_and_reused(monkeypatch):
    native.kernel.cache_clear()
    try:
        first = native.kernel()
        if first is None:
            pytest.skip("the kernel does not build here")
        assert first.path.is_file()
        built_at = first.path.stat().st_mtime_ns
        native.kernel.cache_clear()
        assert native.kernel().path == first.path
        assert first.path.stat().st_mtime_ns == built_at
    finally:
        native.kernel.cache_clear()


@pytest.mark.parametrize("setting", ["no compiler", "switched off"])
def test_without_it_int8_layers_run_on_fbgemm(monkeypatch, setting):
    if setting == "no compiler":
        monkeypatch.setenv("CC", os.devnull)  # not a compiler: the build fails
    else:
        monkeypatch.setenv("DESKTOP_ASSISTANT_NATIVE", "0")
    native.kernel.cache_clear()
    try:
        assert native.kernel() is None
        if quantize.fbgemm_available():
            layer = quantize.DynamicInt8Linear.from_linear(torch.nn.Linear(64, 8))
            layer.prepare()
            assert layer._native is None and layer._packed is not None
    finally:
        native.kernel.cache_clear()


@pytest.mark.parametrize("n,k", [(1, 64), (67, 100), (4096 + 3, 896)])
def test_row_sums(kernel, n, k):
    weight = torch.randint(-128, 128, (n, k), dtype=torch.int8)
    for threads in (1, 2):
        assert torch.equal(kernel.row_sums(weight, threads), weight.sum(1, dtype=torch.int32))


@pytest.mark.parametrize(
    ("capability", "flags", "no_avx_vnni", "isa"),
    [
        ("AVX512", {"avx2", "avx512_vnni", "avx_vnni"}, "0", native.VNNI),
        ("AVX2", {"avx2", "avx512_vnni", "avx_vnni"}, "0", native.AVX_VNNI),  # torch capped
        ("AVX2", {"avx2", "avx_vnni"}, "0", native.AVX_VNNI),  # Intel 12th generation on
        ("AVX2", {"avx2", "avx_vnni"}, "1", native.AVX2),  # emulating Zen 3 there
        ("AVX2", {"avx2"}, "0", native.AVX2),  # Zen 3
        ("DEFAULT", {"sse4_2"}, "0", 0),
    ],
)
def test_the_kernel_path_follows_the_cpu(monkeypatch, capability, flags, no_avx_vnni, isa):
    from desktop_assistant.core import cpu

    monkeypatch.setattr(native.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setenv("DESKTOP_ASSISTANT_NO_AVX_VNNI", no_avx_vnni)
    assert native._isa() == isa
