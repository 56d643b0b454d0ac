"""Fixtures of the inference tests: our C kernel and each of its paths this CPU can run."""

from __future__ import annotations

import dataclasses

import pytest

from desktop_assistant.core.cpu import cpu_flags, has_avx512_vnni
from desktop_assistant.inference import native


@pytest.fixture(scope="module")
def kernel():
    found = native.kernel()
    if found is None:
        pytest.skip("the kernel does not build here (no C compiler or no AVX2)")
    return found


@pytest.fixture(scope="module")
def kernel_paths(kernel):
    """The kernel on each path this CPU runs: AVX2 always; AVX-VNNI (Intel since the 12th
    generation, Zen 4) and AVX-512 VNNI where it has them."""
    paths = [dataclasses.replace(kernel, isa=native.AVX2)]
    if "avx_vnni" in cpu_flags():
        paths.append(dataclasses.replace(kernel, isa=native.AVX_VNNI))
    if has_avx512_vnni() and kernel.isa == native.VNNI:
        paths.append(kernel)
    return paths
