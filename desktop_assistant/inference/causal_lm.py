"""`CausalLMEngine`: a `ChatEngine` over transformers' AutoModelForCausalLM + AutoTokenizer.

torch and transformers are imported in `load`, on the thread that owns the engine, so that the
window can appear before they are imported.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.base import LocalChatEngine, context_length, reply_stats
from desktop_assistant.inference.engine import ProgressCallback, TextCallback
from desktop_assistant.inference.generation import PromptCache, generate_tokens
from desktop_assistant.inference.loading import give_back_memory, load_model
from desktop_assistant.inference.options import GenerationOptions, Reply
from desktop_assistant.inference.runtime import onednn_for_prefill_only, prepare_to_load
from desktop_assistant.inference.streaming import TextStream
from desktop_assistant.models.model_folder import ModelFolder, check_model_folder

log = logging.getLogger(__name__)
PROMPT_LOOKUP = True  # it won on every prompt measured (inference/generation.py)
TEXT_ONLY = "This model reads text only; pick a vision model (e.g. SmolVLM) to ask about images."


class CausalLMEngine(LocalChatEngine):
    """A chat model from a local Hugging Face folder, run on the CPU."""

    def _set_up(self) -> None:
        self._folder: ModelFolder | None = None
        self._tokenizer: Any = None
        self._prompt_cache = PromptCache()
        self.prompt_lookup = PROMPT_LOOKUP  # check drafts from the conversation (decode.py)

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
        self.context_tokens = context_length(model.config)
        give_back_memory()
        log.info("loaded %s (%s, context %d)", self.name, self.precision, self.context_tokens)

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer, once loaded (benchmarks build prompts with it)."""
        return self._tokenizer

    def left_out(self, messages: Sequence[Message], options: GenerationOptions) -> int:
        """How many of the oldest messages `generate` would leave out to fit the context."""
        if self._tokenizer is None:
            return 0
        try:
            return prompts.fit_to_context(
                self._tokenizer, messages, self.context_tokens, options.max_new_tokens
            )[2]
        except UserError:
            return 0  # the newest message alone does not fit: generate says so

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
        with torch.inference_mode(), onednn_for_prefill_only(self._bf16) as decode_mode:
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
        stats = reply_stats(
            started,
            result.first_token_at,
            result.new_tokens,
            prompt_tokens=len(ids),
            stopped=result.cancelled,
            cached_tokens=result.reused,
            dropped_messages=dropped,
            precision=self.precision,
        )
        return Reply(text=stream.text, stats=stats)

    def reset_cache(self) -> None:
        """Forget the kept KV cache (benchmarks measure a cold prefill with it)."""
        self._prompt_cache.reset()

    def unload(self) -> None:
        self._prompt_cache.reset()
        self._model = None
        self._tokenizer = None
        gc.collect()
