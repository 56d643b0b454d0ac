"""`CausalLMEngine`: a `ChatEngine` over transformers' AutoModelForCausalLM + AutoTokenizer.

torch and transformers are imported in `load`, on the thread that owns the engine, so that the
window can appear before they are imported.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import ModelError
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.engine import TextCallback
from desktop_assistant.inference.model_folder import ModelFolder, check_model_folder
from desktop_assistant.inference.options import GenerationOptions, Reply, ReplyStats

log = logging.getLogger(__name__)
DEFAULT_CONTEXT = 2048  # when a config names no context length


def go_offline() -> None:
    """Nothing in transformers or huggingface_hub may reach the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes in bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


@contextmanager
def _onednn_for_prefill_only(enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield a callback that switches oneDNN off for the decode steps; restore it at the end.

    Measured on Zen 4 with Qwen2.5-0.5B in bf16 (2 threads): oneDNN makes the prefill GEMMs
    7x faster (400 vs 57 tok/s) but single-token decode 1.7x slower (13.3 vs 22.9 tok/s).
    The flag is process-wide; only the chat thread runs bf16 matmuls today.
    """
    import torch

    before = torch.backends.mkldnn.enabled

    def decode_mode() -> None:
        if enabled:
            torch.backends.mkldnn.enabled = False  # type: ignore[assignment]

    try:
        yield decode_mode
    finally:
        torch.backends.mkldnn.enabled = before  # type: ignore[assignment]


class _ReplyStream:
    """Stopping criterion that also streams text: it sees each new token before the next step.

    Doing both in one place means a stop marker or a cancel takes effect on the very token that
    triggered it. Text is decoded from all new ids each step (so multi-byte characters split
    over tokens come out whole) and held back while it could be the start of a stop marker.
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_len: int,
        on_text: TextCallback,
        cancel: threading.Event,
        stop_markers: Sequence[str],
        on_first_token: Callable[[], None] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.on_first_token = on_first_token
        self.prompt_len = prompt_len
        self.on_text = on_text
        self.cancel = cancel
        self.stop_markers = tuple(stop_markers)
        self.first_token_at: float | None = None
        self.new_tokens = 0
        self.text = ""  # what has been emitted
        self.stopped_by_marker = False

    def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
        import torch

        self.new_tokens = int(input_ids.shape[1]) - self.prompt_len
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            if self.on_first_token is not None:
                self.on_first_token()
        if self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool)
        ids = input_ids[0, self.prompt_len :].tolist()
        self._emit(self.tokenizer.decode(ids, skip_special_tokens=True), final=False)
        stop = self.stopped_by_marker or self.cancel.is_set()  # on_text may have cancelled
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

    def finish(self, ids: list[int]) -> None:
        """Emit what was held back once generation has ended (not after a cancel)."""
        if not self.cancel.is_set():
            self._emit(self.tokenizer.decode(ids, skip_special_tokens=True), final=True)

    def _emit(self, text: str, final: bool) -> None:
        for marker in self.stop_markers:
            at = text.find(marker)
            if at >= 0:
                text, final, self.stopped_by_marker = text[:at], True, True
        if not final:
            text = text.rstrip("\ufffd")  # an incomplete UTF-8 sequence: wait for the rest
            text = text[: len(text) - self._held_back(text)]
        else:
            text = text.rstrip() if self.stopped_by_marker else text
        if len(text) > len(self.text) and text.startswith(self.text):
            self.on_text(text[len(self.text) :])
            self.text = text

    def _held_back(self, text: str) -> int:
        """Length of the longest tail of `text` that starts a stop marker."""
        longest = 0
        for marker in self.stop_markers:
            for n in range(1, len(marker)):
                if text.endswith(marker[:n]):
                    longest = max(longest, n)
        return longest


class CausalLMEngine:
    """A chat model from a local Hugging Face folder, run on the CPU."""

    def __init__(self, model_path: str | Path, dtype: str = "auto") -> None:
        self.model_path = Path(model_path).expanduser()
        self.dtype_name = dtype
        self._folder: ModelFolder | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._cancel = threading.Event()
        self.context_tokens = DEFAULT_CONTEXT

    @property
    def name(self) -> str:
        return self.model_path.name or str(self.model_path)

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        folder = check_model_folder(self.model_path)
        go_offline()
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        dtype = self._torch_dtype(torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder.path, local_files_only=True)
        except Exception as err:
            raise ModelError(f"could not load the tokenizer in {folder.path}: {err}") from err
        try:
            model = AutoModelForCausalLM.from_pretrained(
                folder.path, dtype=dtype, local_files_only=True, use_safetensors=True
            )
        except ValueError as err:
            if "Unrecognized" in str(err) or "model type" in str(err):
                raise ModelError(
                    f"{folder.path} is a {folder.model_type or 'unknown'} model, which is not a "
                    "text chat model this app can run"
                ) from err
            raise ModelError(f"could not load the model in {folder.path}: {err}") from err
        except Exception as err:  # torn or odd files fail in many ways (SafetensorError, ...)
            raise ModelError(f"could not load the model in {folder.path}: {err}") from err
        model.eval()
        self._folder, self._model, self._tokenizer = folder, model, tokenizer
        self.context_tokens = self._context_length(model.config)
        log.info("loaded %s (%s, context %d)", self.name, dtype, self.context_tokens)

    def _torch_dtype(self, torch: Any) -> Any:
        name = self.dtype_name
        if name == "auto":
            name = "bf16" if cpu_has_native_bf16() else "fp32"
        return {"bf16": torch.bfloat16, "fp32": torch.float32}[name]

    @staticmethod
    def _context_length(config: Any) -> int:
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return DEFAULT_CONTEXT

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions, on_text: TextCallback
    ) -> Reply:
        if self._model is None:
            raise ModelError("the model is not loaded")
        import torch
        from transformers import StoppingCriteriaList

        self._cancel.clear()
        started = time.perf_counter()
        tokenizer, model = self._tokenizer, self._model
        ids, max_new = prompts.fit_to_context(
            tokenizer, messages, self.context_tokens, options.max_new_tokens
        )
        input_ids = torch.tensor([ids], dtype=torch.long)
        markers = () if prompts.has_chat_template(tokenizer) else prompts.PLAIN_STOP_MARKERS
        config = self._generation_config(options, max_new)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        bf16 = model.dtype == torch.bfloat16
        with torch.inference_mode(), _onednn_for_prefill_only(bf16) as decode_mode:
            stream = _ReplyStream(tokenizer, len(ids), on_text, self._cancel, markers, decode_mode)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([stream]),
            )
        new_ids = output[0, len(ids) :].tolist()
        stream.finish(new_ids)
        ended = time.perf_counter()
        first = stream.first_token_at or ended
        new_tokens = len(new_ids)
        decode_s = ended - first
        stats = ReplyStats(
            prompt_tokens=len(ids),
            new_tokens=new_tokens,
            ttft_s=first - started,
            decode_tok_s=(new_tokens - 1) / decode_s if new_tokens > 1 and decode_s > 0 else 0.0,
            total_s=ended - started,
            stopped=self._cancel.is_set(),
        )
        return Reply(text=stream.text, stats=stats)

    def _generation_config(self, options: GenerationOptions, max_new: int) -> Any:
        import copy

        config = copy.deepcopy(self._model.generation_config)
        tokenizer = self._tokenizer
        stop_ids = prompts.stop_token_ids(tokenizer, config.eos_token_id)
        sampling = options.temperature > 0
        config.update(
            max_new_tokens=max_new,
            max_length=None,
            min_new_tokens=None,
            do_sample=sampling,
            temperature=options.temperature if sampling else None,
            top_p=options.top_p if sampling else None,
            top_k=(options.top_k or None) if sampling else None,
            repetition_penalty=options.repetition_penalty,
            eos_token_id=stop_ids or None,
            pad_token_id=config.pad_token_id
            if config.pad_token_id is not None
            else (stop_ids[0] if stop_ids else 0),
            num_beams=1,
        )
        return config

    def cancel(self) -> None:
        self._cancel.set()

    def unload(self) -> None:
        self._model = None
        self._tokenizer = None
        gc.collect()
