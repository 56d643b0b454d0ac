"""The CPU's name and flags, read from /proc/cpuinfo."""

from __future__ import annotations

import pytest

from desktop_assistant.core import cpu

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2
"""
ZEN4_FLAGS = "fpu avx2 avx512f avx512bw avx512_vnni avx512_bf16"


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    def use(text: str | None):
        path = tmp_path / "cpuinfo"
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(cpu, "CPUINFO", path)
        cpu._cpuinfo.cache_clear()

    yield use
    cpu._cpuinfo.cache_clear()


def test_an_avx2_only_cpu(cpuinfo):
    cpuinfo(ZEN3)
    assert cpu.cpu_name() == "AMD EPYC 7B13"
    assert cpu.has_avx512_vnni() is False
    assert cpu.describe() == {"cpu": "AMD EPYC 7B13", "cpu_flags": ["avx2"]}


def test_a_cpu_with_vnni(cpuinfo):
    cpuinfo(f"processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: {ZEN4_FLAGS}\n")
    assert cpu.has_avx512_vnni() is True
    assert cpu.describe()["cpu_flags"] == [
        "avx2",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx512_bf16",
    ]


def test_no_cpuinfo_says_unknown_not_no(cpuinfo):
    cpuinfo(None)
    assert cpu.has_avx512_vnni() is None and cpu.cpu_name()
