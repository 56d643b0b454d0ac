"""`CausalLMEngine`: a `ChatEngine` over transformers' AutoModelForCausalLM + AutoTokenizer.

torch and transformers are imported in `load`, on the thread that owns the engine, so that the
window can appear before they are imported.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.core.offline import go_offline
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.decode import PromptCache, generate_tokens
from desktop_assistant.inference.engine import ProgressCallback, TextCallback
from desktop_assistant.inference.loading import give_back_memory, load_model, use_threads
from desktop_assistant.inference.options import GenerationOptions, Reply, ReplyStats
from desktop_assistant.inference.streaming import TextStream
from desktop_assistant.models.model_folder import ModelFolder, check_model_folder

log = logging.getLogger(__name__)
DEFAULT_CONTEXT = 2048  # when a config names no context length
PROMPT_LOOKUP = True  # it won on every prompt measured (inference/decode.py)
TEXT_ONLY = "This model reads text only; pick a vision model (e.g. SmolVLM) to ask about images."


def prepare_to_load(threads: int) -> None:
    """What every engine does before it loads weights: stay offline, take its thread count,
    and keep transformers' warnings and progress bars off the terminal."""
    go_offline()
    use_threads(threads)
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


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


class CausalLMEngine:
    """A chat model from a local Hugging Face folder, run on the CPU."""

    def __init__(
        self,
        model_path: str | Path,
        precision: str = "auto",
        threads: int = 0,
        own_forward: bool = True,
    ) -> None:
        self.model_path = Path(model_path).expanduser()
        self.requested_precision = precision
        self.threads = threads  # 0: one per physical core
        self.own_forward = own_forward  # llama_forward where it applies, else transformers'
        self._precision = ""
        self._folder: ModelFolder | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._cancel = threading.Event()
        self._prompt_cache = PromptCache()
        self._stop_ids: list[int] = []
        self._bf16 = False
        self.context_tokens = DEFAULT_CONTEXT
        self.prompt_lookup = PROMPT_LOOKUP  # check drafts from the conversation (decode.py)

    @property
    def name(self) -> str:
        return self.model_path.name or str(self.model_path)

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def precision(self) -> str:
        return self._precision

    def load(self, progress: ProgressCallback | None = None) -> None:
        folder = check_model_folder(self.model_path)
        prepare_to_load(self.threads)
        model, tokenizer, self._precision = load_model(
            folder, self.requested_precision, progress or (lambda message: None), self.own_forward
        )
        import torch

        self._folder, self._model, self._tokenizer = folder, model, tokenizer
        self._stop_ids = prompts.stop_token_ids(
            tokenizer, getattr(model.generation_config, "eos_token_id", None)
        )
        self._bf16 = model.dtype == torch.bfloat16
        self._prompt_cache.reset()
        self.context_tokens = self._context_length(model.config)
        give_back_memory()
        log.info("loaded %s (%s, context %d)", self.name, self.precision, self.context_tokens)

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
        if any(m.images for m in messages):
            raise UserError(TEXT_ONLY)
        import torch

        self._cancel.clear()
        started = time.perf_counter()
        tokenizer, model = self._tokenizer, self._model
        ids, max_new, dropped = prompts.fit_to_context(
            tokenizer, messages, self.context_tokens, options.max_new_tokens
        )
        markers = () if prompts.has_chat_template(tokenizer) else prompts.PLAIN_STOP_MARKERS
        stream = TextStream(tokenizer, on_text, markers)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        with torch.inference_mode(), _onednn_for_prefill_only(self._bf16) as decode_mode:
            result = generate_tokens(
                model,
                ids,
                self._prompt_cache,
                options,
                max_new,
                self._stop_ids,
                stream.add,
                self._cancel,
                decode_mode,
                prompt_lookup=self.prompt_lookup,
            )
        if not result.cancelled:
            stream.finish()
        ended = time.perf_counter()
        first = result.first_token_at or ended
        decode_s = ended - first
        n = result.new_tokens
        stats = ReplyStats(
            prompt_tokens=len(ids),
            new_tokens=n,
            ttft_s=first - started,
            decode_tok_s=(n - 1) / decode_s if n > 1 and decode_s > 0 else 0.0,
            total_s=ended - started,
            stopped=result.cancelled,
            cached_tokens=result.reused,
            dropped_messages=dropped,
            precision=self.precision,
        )
        return Reply(text=stream.text, stats=stats)

    def reset_cache(self) -> None:
        """Forget the kept KV cache (benchmarks measure a cold prefill with it)."""
        self._prompt_cache.reset()

    def cancel(self) -> None:
        self._cancel.set()

    def unload(self) -> None:
        self._prompt_cache.reset()
        self._model = None
        self._tokenizer = None
        gc.collect()
