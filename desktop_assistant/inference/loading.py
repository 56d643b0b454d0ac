"""Loading a causal LM from a local folder in the precision the user chose.

Precisions: fp32, bf16 (transformers' from_pretrained), int8 and int4 (weight-only, quantized
once and cached, see quant_cache.py). "auto": see `resolve_precision`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference import quant_cache
from desktop_assistant.models import memory
from desktop_assistant.models.model_folder import ModelFolder

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "int4", "int8", "bf16", "fp32")
Progress = Callable[[str], None]


def resolve_precision(precision: str, folder: ModelFolder | None = None) -> str:
    """ "auto" is int8 (W8A8): measured on Qwen2.5-0.5B it decodes as fast as int4 with
    AVX-512 (30 vs 31 tok/s) and faster on AVX2 (24-27 vs 21), prefills 1.8x faster and
    agrees better with fp32 (95% vs 90% top-1). int4 when int8 would not fit in free memory
    (models/memory.py)."""
    from desktop_assistant.inference.quantize import dynamic_int8_available, int4_kernel_available

    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if not dynamic_int8_available():
        return "int4" if int4_kernel_available() else "bf16"
    too_big = folder is not None and memory_need(folder, "int8").bytes > memory.available()
    return "int4" if too_big and int4_kernel_available() else "int8"


def memory_need(folder: ModelFolder, precision: str) -> memory.Need:
    """What loading `folder` in `precision` takes, its quantized cache counted when it has one."""
    from desktop_assistant.inference.quantize import INT4_GROUP

    cached = precision in ("int8", "int4") and quant_cache.is_current(
        folder.path, precision, INT4_GROUP
    )
    return memory.need(folder, precision, cached)


def check_memory(folder: ModelFolder, precision: str) -> None:
    """`ModelError` before loading when `precision` cannot fit (saying whether int4 would)."""
    smaller = memory_need(folder, "int4") if precision != "int4" else None
    memory.check_fits(folder, memory_need(folder, precision), smaller)


def _gguf_kwargs(folder: ModelFolder) -> dict[str, Any]:
    if not folder.gguf:
        return {}
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files with it)
    except ImportError as err:
        raise ModelError("reading a GGUF file needs the gguf package: pip install gguf") from err
    return {"gguf_file": folder.path.name}


def _source_dir(folder: ModelFolder) -> Any:
    return folder.path.parent if folder.gguf else folder.path


def load_tokenizer(folder: ModelFolder, source: Any = None) -> Any:
    from transformers import AutoTokenizer

    kwargs = {} if source is not None else _gguf_kwargs(folder)
    directory = Path(source or _source_dir(folder))
    try:
        if not kwargs:
            plain = plain_tokenizer(directory)
            if plain is not None:
                return plain
        return AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)
    except Exception as err:
        raise ModelError(f"could not load the tokenizer of {folder.path}: {err}") from err


# The tokenizer class whose reading is done here from its tokenizer.json (transformers 5):
# AutoTokenizer parses that 7 MB of JSON in Python, imports the model packages and rebuilds
# the tokenizer from its vocabulary, 0.9-1.2 s holding the GIL while the weights load beside
# it; `tokenizers` reads the same file in 0.35 s. What Qwen2Tokenizer.__init__ sets on top of
# the vocabulary and merges (a normalizer, a pre-tokenizer, a decoder) is set the same here.
QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
PLAIN_SETTINGS = (
    "model_max_length",
    "clean_up_tokenization_spaces",
    "padding_side",
    "truncation_side",
    "split_special_tokens",
)
SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")


def plain_tokenizer(directory: Path) -> Any:
    """The folder's Qwen2 tokenizer as AutoTokenizer would make it, read by `tokenizers` (see
    QWEN2_SPLIT), or None for any other tokenizer or settings this does not carry over
    (AutoTokenizer then)."""
    import json

    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("tokenizer_class") != "Qwen2Tokenizer":
        return None
    tokens = directory / "tokenizer.json"
    template_file = directory / "chat_template.jinja"
    template = (
        template_file.read_text(encoding="utf-8")
        if template_file.is_file()
        else config.get("chat_template")
    )
    if not tokens.is_file() or not isinstance(template, str) or config.get("add_prefix_space"):
        return None
    # Qwen2Tokenizer's own defaults, then the folder's settings
    kwargs: dict[str, Any] = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    kwargs["pad_token"] = "<|endoftext|>"
    kwargs.update({k: config[k] for k in PLAIN_SETTINGS if k in config})
    for name in SPECIAL_TOKENS:
        value = config.get(name, kwargs.get(name))
        kwargs[name] = value.get("content") if isinstance(value, dict) else value
    extra = config.get("additional_special_tokens") or config.get("extra_special_tokens")
    if extra:
        kwargs["additional_special_tokens"] = extra
    from tokenizers import Regex, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokens), chat_template=template, **kwargs
    )
    backend = tokenizer.backend_tokenizer
    model = backend.model
    if not isinstance(model, BPE) or model.byte_fallback or model.continuing_subword_prefix:
        return None
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    return tokenizer


def load_float(folder: ModelFolder, precision: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    kwargs = _gguf_kwargs(folder)
    if kwargs:  # transformers 5 keeps GGUF blocks packed unless told to dequantize them
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=folder.path.name, dequantize=True)
    else:
        kwargs["use_safetensors"] = True
    try:
        model = AutoModelForCausalLM.from_pretrained(
            _source_dir(folder), dtype=dtype, local_files_only=True, **kwargs
        )
    except ValueError as err:
        if "Unrecognized" in str(err) or "model type" in str(err):
            raise ModelError(
                f"{folder.path} is a {folder.model_type or 'unknown'} model, which is not a "
                "text chat model this app can run"
            ) from err
        raise ModelError(f"could not load the model in {folder.path}: {err}") from err
    except ModelError:
        raise
    except Exception as err:  # torn or odd files fail in many ways (SafetensorError, ...)
        raise ModelError(f"could not load the model in {folder.path}: {_why(err)}") from err
    return model.eval()


def _why(error: BaseException) -> str:
    """The error, and what first went wrong under it when that says more: transformers wraps
    a failed import of a model's code in "Could not import module 'X'" and keeps the cause."""
    root, under = error, error.__cause__ or error.__context__
    while under is not None:
        root, under = under, under.__cause__ or under.__context__
    if root is error or str(root) in str(error):
        return str(error)
    return f"{error} ({type(root).__name__}: {root})"


def load_quantized(
    folder: ModelFolder, scheme: str, progress: Progress, own_forward: bool = True
) -> tuple[Any, Any]:
    """The cached quantized model and its tokenizer, quantizing (and caching) first if needed.
    Its int8 kernels are not set up yet (`quantize.prepare`, after `llama_forward.build`).
    With `own_forward`, a cached Llama / Qwen2 model loads into `llama_skeleton.skeleton`,
    without importing transformers' model code."""
    import torch
    from transformers import AutoConfig

    from desktop_assistant.inference import llama_forward, llama_skeleton
    from desktop_assistant.inference.quantize import (
        INT4_GROUP,
        activation_dtype,
        make_skeleton,
        quantize_model,
    )

    group = INT4_GROUP
    dtype = activation_dtype(scheme)
    entry = quant_cache.entry_dir(folder.path, scheme, group)
    if quant_cache.is_current(folder.path, scheme, group):

        def skeleton() -> Any:
            config = AutoConfig.from_pretrained(entry, local_files_only=True)
            if own_forward and llama_forward.supported_config(config):
                return make_skeleton(llama_skeleton.skeleton(config), scheme, group)
            from transformers import AutoModelForCausalLM

            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            return make_skeleton(model, scheme, group)

        from concurrent.futures import ThreadPoolExecutor

        source = entry if folder.gguf else None
        try:  # the tokenizer reads its files (in Rust, the GIL let go) while the weights load
            with ThreadPoolExecutor(1, thread_name_prefix="tokenizer") as pool:
                tokenizer = pool.submit(load_tokenizer, folder, source)
                model = quant_cache.load(folder.path, scheme, group, skeleton, dtype)
                return model, tokenizer.result()
        except ModelError:
            raise
        except Exception as err:  # a torn cache file: make it again
            log.warning("quantized cache unusable (%s); quantizing again", err)
    what = "Converting the GGUF file and quantizing" if folder.gguf else "Quantizing"
    progress(f"{what} to {scheme} (first time only): reading the weights…")
    started = time.perf_counter()
    tokenizer = load_tokenizer(folder)
    model = load_float(folder, "bf16")  # checkpoints are bf16; fp32 would double peak RAM
    progress(f"{what} to {scheme} (first time only): quantizing…")
    with torch.inference_mode():
        quantize_model(model, scheme, group)
    progress(f"Saving the {scheme} copy for the next start…")
    try:
        quant_cache.save(
            model, tokenizer, folder.path, scheme, group, time.perf_counter() - started
        )
    except OSError as err:
        log.warning("could not cache the quantized model: %s", err)
    return model.eval(), tokenizer


def _glibc() -> Any:
    """The C library where it is glibc (malloc_trim, mallopt), else None (musl, macOS,
    Windows), where the memory calls below do nothing."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError):
        return ctypes.CDLL("libc.so.6")
    return None


def give_back_memory(collect: bool = True) -> None:
    """Return memory freed while loading to the system. Quantizing reads the model in bf16
    and then drops it, and glibc keeps such freed blocks for the process: measured on
    Qwen2.5-Coder-0.5B, a first (quantizing) load left 2.99 GB resident, 1.19 GB after this
    (a cached load: 1.26 GB, 1.18 GB after). Elsewhere it does nothing."""
    import gc

    if collect:  # 0.12 s with transformers imported: once per load is enough
        gc.collect()
    libc = _glibc()
    if libc is not None:
        with contextlib.suppress(AttributeError):  # a C library without malloc_trim
            libc.malloc_trim(0)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LOADING_MMAP_THRESHOLD = 1 << 20
LATER_MMAP_THRESHOLD = 32 << 20  # the most glibc's own moving threshold reaches


@contextlib.contextmanager
def _large_blocks_given_back() -> Iterator[None]:
    """While loading, have glibc map every block of 1 MiB or more on its own, so a weight
    freed after fusing or packing goes back to the system at once instead of staying in a
    heap another thread's arena cannot reuse: peak RSS of a cached int8 Qwen2.5-Coder-0.5B
    load 1.68 -> 1.43 GB. Afterwards the threshold is 32 MiB, where glibc's own adjustment
    would have taken it (a prefill's activations are not mapped and unmapped at every layer).
    Elsewhere (not glibc) it does nothing."""
    libc = _glibc()
    try:
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, LOADING_MMAP_THRESHOLD)
    except AttributeError:  # a C library without mallopt: leave it
        libc = None
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, LATER_MMAP_THRESHOLD)


def load_model(
    folder: ModelFolder, precision: str, progress: Progress, own_forward: bool = True
) -> tuple[Any, Any, str]:
    """Returns the model, its tokenizer and the precision it runs in. With `own_forward`, a
    Llama / Qwen2 model comes back as our `LlamaForward` over its weights (same call)."""
    chosen = resolve_precision(precision, folder)
    check_memory(folder, chosen)
    with _large_blocks_given_back():
        return _load(folder, chosen, progress, own_forward)


def _load(
    folder: ModelFolder, chosen: str, progress: Progress, own_forward: bool
) -> tuple[Any, Any, str]:
    from desktop_assistant.inference import llama_forward
    from desktop_assistant.inference.quantize import prepare

    if chosen in ("int8", "int4"):
        model, tokenizer = load_quantized(folder, chosen, progress, own_forward)
    else:
        if folder.gguf:
            progress("Reading the GGUF file…")
        model, tokenizer = load_float(folder, chosen), load_tokenizer(folder)
    if own_forward:
        fast = llama_forward.build(model)
        if fast is not None:
            model = fast
            give_back_memory(collect=False)  # the unfused copies: 1.30 -> 1.08 GB
    return prepare(model), tokenizer, chosen
