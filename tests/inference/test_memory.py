"""A model that cannot fit is refused (or loaded smaller) before anything is read (issue 18, 5)."""

from __future__ import annotations

import pytest

from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference import loading
from desktop_assistant.models import memory
from desktop_assistant.models.model_folder import check_model_folder


@pytest.fixture
def free_memory(monkeypatch):
    """Set how much memory the system says it can give."""

    def set_free(amount: int) -> None:
        monkeypatch.setattr(memory, "available", lambda: amount)

    return set_free


@pytest.fixture
def no_loading(monkeypatch):
    """Reading weights at all is a failure: the check must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("weights were read before the memory check")

    monkeypatch.setattr(loading, "load_float", refuse)
    monkeypatch.setattr(loading, "load_quantized", refuse)


def test_parameters_are_read_from_the_headers(tiny_chat_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_chat_dir, local_files_only=True)
    expected = sum(p.numel() for p in model.parameters())
    assert memory.parameters(check_model_folder(tiny_chat_dir)) == expected


def test_parameters_of_a_gguf_file(tiny_chat_dir, tmp_path):
    from tests.inference.test_models import write_tiny_gguf

    gguf = write_tiny_gguf(tiny_chat_dir, tmp_path / "tiny.gguf")
    from_folder = memory.parameters(check_model_folder(tiny_chat_dir))
    assert memory.parameters(check_model_folder(gguf)) == from_folder


def test_a_first_conversion_needs_more_than_loading_the_cached_copy(tiny_chat_dir):
    folder = check_model_folder(tiny_chat_dir)
    first = memory.need(folder, "int8")
    cached8, cached4 = memory.need(folder, "int8", cached=True), memory.need(folder, "int4", True)
    assert first.converting and not cached8.converting
    assert not memory.need(folder, "bf16").converting
    assert cached4.bytes < cached8.bytes <= memory.need(folder, "bf16").bytes < first.bytes
    assert memory.need(folder, "bf16").bytes < memory.need(folder, "fp32").bytes


def test_a_chosen_precision_that_cannot_fit_is_refused_before_reading(
    tiny_chat_dir, free_memory, no_loading
):
    folder = check_model_folder(tiny_chat_dir)
    int4 = loading.memory_need(folder, "int4").bytes
    free_memory(int4 + 1)  # int4 would fit, fp32 does not
    with pytest.raises(ModelError) as caught:
        loading.load_model(folder, "fp32", lambda message: None)
    message = str(caught.value)
    assert "needs about" in message and "GB of memory to load it in fp32" in message
    assert "is free" in message and "int4 precision" in message


def test_nothing_fits_says_so_without_advising_int4(tiny_chat_dir, free_memory, no_loading):
    free_memory(1000)
    with pytest.raises(ModelError) as caught:
        loading.load_model(check_model_folder(tiny_chat_dir), "auto", lambda message: None)
    assert "convert and quantize it" in str(caught.value)  # auto fell to int4, not cached
    assert "int4 precision" not in str(caught.value)


def test_auto_takes_int4_when_only_int4_fits(tiny_chat_dir, free_memory):
    from desktop_assistant.inference.quantize import (
        dynamic_int8_available,
        int4_kernel_available,
    )

    if not (dynamic_int8_available() and int4_kernel_available()):
        pytest.skip("auto is not int8 on this CPU")
    folder = check_model_folder(tiny_chat_dir)
    free_memory(loading.memory_need(folder, "int8").bytes - 1)
    assert loading.resolve_precision("auto", folder) == "int4"
    free_memory(loading.memory_need(folder, "int8").bytes)
    assert loading.resolve_precision("auto", folder) == "int8"


def test_the_engine_and_the_command_line_say_it_plainly(
    tiny_chat_dir, free_memory, no_loading, capsys
):
    from desktop_assistant import cli
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    free_memory(1000)
    with pytest.raises(ModelError, match="GB of memory"):
        CausalLMEngine(tiny_chat_dir, precision="bf16").load()
    code = cli.run(["ask", "--model", str(tiny_chat_dir), "--precision", "bf16", "Hello"])
    err = capsys.readouterr().err
    assert code != 0 and "GB of memory" in err and "Traceback" not in err


def test_a_vision_model_is_checked_too(tiny_vlm_dir, free_memory):
    from desktop_assistant.inference.vision import VisionChatEngine

    free_memory(1000)
    with pytest.raises(ModelError, match="GB of memory"):
        VisionChatEngine(tiny_vlm_dir, precision="bf16").load()


def test_a_gguf_import_is_checked_before_converting(tiny_chat_dir, tmp_path, free_memory):
    import threading

    from desktop_assistant.models.importer import import_model
    from tests.inference.test_models import write_tiny_gguf

    gguf = write_tiny_gguf(tiny_chat_dir, tmp_path / "tiny.gguf")
    free_memory(1000)
    with pytest.raises(ModelError, match="GB of memory"):
        import_model(gguf, lambda message, fraction: None, threading.Event())


@pytest.fixture
def libc_calls(monkeypatch):
    """The malloc_trim and mallopt calls the app makes to glibc, recorded (and made)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    calls = []
    real = ctypes.CDLL

    class Libc:
        def __init__(self, name):
            self.lib = real(name)

        def malloc_trim(self, pad):
            calls.append(("malloc_trim", pad))
            return self.lib.malloc_trim(pad)

        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return self.lib.mallopt(param, value)

        def __getattr__(self, name):
            return getattr(self.lib, name)

    monkeypatch.setattr(ctypes, "CDLL", Libc)
    return calls


def test_a_load_gives_freed_memory_back(tiny_chat_dir, libc_calls):
    """malloc_trim after loading (quantizing leaves the bf16 copy's memory with the process)."""
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    CausalLMEngine(tiny_chat_dir, precision="int8").load()
    trims = [call[1] for call in libc_calls if call[0] == "malloc_trim"]
    assert trims and set(trims) == {0}  # after the fused forward is built, and at the end


def test_large_blocks_are_mapped_while_loading_and_the_threshold_raised_after(
    tiny_chat_dir, libc_calls, monkeypatch
):
    """glibc maps blocks of 1 MiB and up while a model loads (freed weights go back at once),
    then 32 MiB; where mallopt is missing (not glibc) the load goes on."""
    import ctypes

    folder = check_model_folder(tiny_chat_dir)
    loading.load_model(folder, "int8", lambda message: None)
    opts = [call[1:] for call in libc_calls if call[0] == "mallopt"]
    assert opts == [(-3, 1 << 20), (-3, 32 << 20)]

    class NoMallopt:
        def __init__(self, name):
            pass

        def malloc_trim(self, pad):
            return 0

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    model, _, _ = loading.load_model(folder, "int8", lambda message: None)
    assert model is not None
