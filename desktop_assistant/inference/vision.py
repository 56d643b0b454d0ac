"""`VisionChatEngine`: a `ChatEngine` for image-text-to-text models (SmolVLM, Idefics3), on the CPU.

The generation loop is the text engine's (decode.generate_tokens): the model it drives is a
`_PromptEmbedder` that puts the vision encoder's output in place of the <image> tokens of each
prefill chunk. The KV cache is kept between turns like the text engine's, and reused up to the
first picture that changed, so a follow-up question about the same picture encodes nothing.

Precision: the language model's Linear layers follow the text engine's schemes (auto: int8);
the vision encoder runs in bf16 where the CPU has bf16 instructions, else fp32. Measured on
Zen 4 (2 threads, best of 8 interleaved runs on a shared machine), one 512-px tile through
SmolVLM-256M's encoder and connector: fp32 1.42 s, bf16 0.83 s, dynamic int8 (fbgemm VNNI,
the text engine's per-token DynamicInt8Linear) 0.72 s, per-tensor dynamic int8 0.65 s. Against
fp32 the features differ by 1.0% (relative L2) in bf16 and 3.2-3.4% in int8: int8 is 13-21%
faster but not equal in output, so bf16 it is. A third of the time is attention (flash SDPA,
as fast in fp32 as in bf16), which int8 weights do not speed up.

Re-measured (2026-12-07, Zen 4, best of 5, one tile): bf16 0.785 s, of which the Linear
products 0.43 s (about 400 GFLOP/s) and attention 0.26 s (fp32 flash attention, 38.6 GFLOP at
about 150 GFLOP/s, near this CPU's fp32 peak: bf16 inputs do not change it, and attention as
two bf16 matmuls took 48 ms a layer against SDPA's 20). `torch.compile` (inductor, freezing):
0.738 s after a 30 s compile, 6%: not used. Our int8 kernel on the products: 0.741 s, 2.7%
off in features. Capped to AVX2 (no bf16): fp32 1.30 s, bf16 5.75 s (emulated), our int8
1.24 s (2.7% off): fp32 it stays. The encoder is compute-bound at the kernels' peak, so the
first token of a question about a new picture cannot drop much by kernels alone; instead the
window reads a picture as soon as it is attached (`prepare_pictures`), while the question is
typed, and the question then waits only for the prefill.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.inference import prompt as prompts
from desktop_assistant.inference.base import LocalChatEngine, context_length, reply_stats
from desktop_assistant.inference.compat import cache_keyword, with_cache
from desktop_assistant.inference.engine import ProgressCallback, TextCallback
from desktop_assistant.inference.generation import generate_tokens, new_cache
from desktop_assistant.inference.loading import (
    check_memory,
    give_back_memory,
    resolve_precision,
)
from desktop_assistant.inference.options import GenerationOptions, Reply
from desktop_assistant.inference.runtime import onednn_for_prefill_only, prepare_to_load
from desktop_assistant.inference.streaming import TextStream
from desktop_assistant.inference.vision_inputs import (
    KEPT_PICTURES,
    ImagePromptCache,
    Picture,
    Pictures,
    VisionPrompt,
    build_prompt,
    estimated_tiles,
)
from desktop_assistant.inference.vision_loading import (
    load_processor,
    load_vision_model,
    vision_precision,
)
from desktop_assistant.models.model_folder import check_model_folder

log = logging.getLogger(__name__)
DEFAULT_TILE_S = 1.0  # seconds per tile until this machine has been measured


class _PromptEmbedder:
    """What `generate_tokens` drives: the model, fed token embeddings with the vision
    encoder's features at the positions of the prompt's <image> tokens."""

    def __init__(self, model: Any, rows: Any, features: Any) -> None:
        self.model = model  # the language part: LlamaForward, or the whole model
        self.rows = rows  # per prompt position: the row of `features` it takes, or -1
        self.features = features

    def __call__(self, input_ids: Any, **kwargs: Any) -> Any:
        start = kwargs[cache_keyword()].get_seq_length()
        rows = self.rows[start : start + input_ids.shape[1]]
        picked = rows >= 0
        if not bool(picked.any()):
            return self.model(input_ids=input_ids, **kwargs)
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds[0, picked] = self.features[rows[picked]].to(embeds.dtype)
        return self.model(inputs_embeds=embeds, **kwargs)

    def new_cache(self) -> Any:
        return new_cache(self.model)


class VisionChatEngine(LocalChatEngine):
    """A vision-language chat model from a local Hugging Face folder, run on the CPU."""

    reads_images = True  # the window attaches pictures only for engines that say so

    def _set_up(self) -> None:
        self.vision_precision = ""  # the vision encoder's, once loaded
        self._text: Any = None  # what runs the language part (load_vision_model)
        self._processor: Any = None
        self._prompt_cache = ImagePromptCache()
        self._pictures = Pictures()
        # the vision encoder's output per (picture digest, high detail), most recent last
        self._features: OrderedDict[tuple[str, bool], Any] = OrderedDict()
        self.seconds_per_tile = DEFAULT_TILE_S  # vision encoder + prefill, measured
        self._warmed = False

    def load(self, progress: ProgressCallback | None = None) -> None:
        folder = check_model_folder(self.model_path)
        if folder.gguf:
            raise ModelError(f"{folder.path} is a GGUF file; vision models need a model folder")
        prepare_to_load(self.threads)
        chosen = resolve_precision(self.requested_precision, folder)
        check_memory(folder, chosen)  # as the text engine
        self._processor = load_processor(folder)
        model, self._text = load_vision_model(
            folder,
            chosen,
            progress or (lambda message: None),
            self.own_forward,
            self._processor.tokenizer,
        )
        self._model, self._precision = model, chosen
        self.vision_precision = vision_precision(chosen)
        self._bf16 = chosen == "bf16"
        tokenizer = self._processor.tokenizer
        eos = getattr(model.generation_config, "eos_token_id", None)
        self._stop_ids = prompts.stop_token_ids(tokenizer, eos)
        text_config = model.config.get_text_config()
        self.context_tokens = context_length(text_config)
        self.reset_cache()
        self._warmed = False
        give_back_memory()
        log.info("loaded %s (%s, vision %s)", self.name, chosen, self.vision_precision)

    def warm_up(self) -> None:
        """Encode a blank tile and prefill its tokens once, after `load`: the kernels' first
        set-up happens here rather than in the user's first question about a picture, and
        `seconds_per_tile` is measured. The window calls it once the model is ready (the user
        can type meanwhile: 0.7-0.9 s of a 3.5 s load on a Zen 4); a one-off question
        (`ask --image`) does not."""
        import torch

        if self._model is None or self._warmed:
            return
        with torch.inference_mode():
            self._warm_up()
        self._warmed = True

    def _warm_up(self) -> None:
        import torch
        from PIL import Image

        processor = self._processor
        side = processor.image_processor.max_image_size["longest_edge"]
        pixels = processor.image_processor(
            [Image.new("RGB", (side, side), (120, 130, 140))],
            return_tensors="pt",
            do_image_splitting=False,
            do_resize=False,
        )
        started = time.perf_counter()
        features = self._encode(pixels)
        assert features is not None
        ids = torch.full((1, features.shape[0]), processor.image_token_id)
        embedder = _PromptEmbedder(self._text, torch.arange(features.shape[0]), features)
        kv_cache = embedder.new_cache()
        embedder(ids, use_cache=True, logits_to_keep=1, **with_cache(kv_cache))
        self.seconds_per_tile = time.perf_counter() - started

    def estimate_image_tokens(self, image_size: tuple[int, int], high_detail: bool) -> int:
        """Prompt tokens a picture of `image_size` (width, height) will take, once loaded.
        Like `estimate_image_seconds`, safe to call from the window's thread."""
        return estimated_tiles(self._processor, image_size, high_detail) * self._seq_len

    def estimate_image_seconds(
        self, image_sizes: Sequence[tuple[int, int]], high_detail: bool
    ) -> float:
        """Seconds these pictures add before the first word of the answer (thread-safe)."""
        tiles = sum(estimated_tiles(self._processor, s, high_detail) for s in image_sizes)
        return tiles * self.seconds_per_tile

    @property
    def _seq_len(self) -> int:
        return int(self._processor.image_seq_len)

    @property
    def tokenizer(self) -> Any:
        """The language model's tokenizer, once loaded (what documents' passages are counted
        with)."""
        return None if self._processor is None else self._processor.tokenizer

    def left_out(self, messages: Sequence[Message], options: GenerationOptions) -> int:
        """How many of the oldest messages `generate` would leave out to fit the context."""
        if self._processor is None:
            return 0
        try:
            prompt = build_prompt(self._processor, self._pictures, messages, options.high_detail,
                                  self.context_tokens, options.max_new_tokens, {})  # fmt: skip
        except UserError:
            return 0  # the newest message alone does not fit: generate says so
        return prompt.dropped

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions, on_text: TextCallback
    ) -> Reply:
        if self._model is None:
            raise ModelError("the model is not loaded")
        import torch

        self._cancel.clear()
        started = time.perf_counter()
        fresh: dict[str, Any] = {}
        prompt = build_prompt(
            self._processor,
            self._pictures,
            messages,
            options.high_detail,
            self.context_tokens,
            options.max_new_tokens,
            fresh,
        )
        cache = self._prompt_cache
        cache.incoming = prompt.spans
        reused = cache.reusable(prompt.ids) if cache.cache is not None else 0
        todo = [k for k, span in enumerate(prompt.spans) if span.end > reused]
        for k in todo:
            picture = prompt.pictures[k]
            known = (picture.digest, options.high_detail) in self._features
            if picture.digest not in fresh and not known:
                fresh[picture.digest] = self._pictures.pixels(
                    self._processor, picture, options.high_detail
                )
        preprocessed = time.perf_counter()
        stream = TextStream(self._processor.tokenizer, on_text)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        with torch.inference_mode(), onednn_for_prefill_only(self._bf16) as decode_mode:
            embedder, tiles = self._embed_pictures(prompt, todo, fresh, options.high_detail)
            vision_s = time.perf_counter() - preprocessed if tiles else 0.0
            if embedder is None:  # stopped while encoding
                return self._reply(stream, prompt, started, preprocessed, vision_s, None)
            result = generate_tokens(
                embedder,
                prompt.ids,
                cache,
                options,
                prompt.max_new,
                self._stop_ids,
                stream.add,
                self._cancel,
                decode_mode,
            )
        cache.commit()
        if not result.cancelled:
            stream.finish()
        if tiles and result.first_token_at is not None and result.prefilled:
            prefill_s = result.first_token_at - preprocessed - vision_s
            share = min(1.0, tiles * self._seq_len / result.prefilled)  # image part of prefill
            self.seconds_per_tile = (vision_s + prefill_s * share) / tiles
        return self._reply(stream, prompt, started, preprocessed, vision_s, result)

    def _embed_pictures(
        self, prompt: VisionPrompt, todo: list[int], fresh: dict[str, Any], high_detail: bool
    ) -> tuple[_PromptEmbedder | None, int]:
        """Features of the pictures in `todo`, from the vision encoder unless kept from an
        earlier question or `prepare_pictures`; and how many tiles were encoded now. The
        embedder is None when stopped meanwhile."""
        import torch

        rows = torch.full((len(prompt.ids),), -1, dtype=torch.long)
        parts, at, done, tiles = [], 0, {}, 0
        for k in todo:
            span = prompt.spans[k]
            if span.digest not in done:  # the same picture twice is encoded once
                picture = prompt.pictures[k]
                encoded, n = self._features_of(picture, high_detail, fresh.get(span.digest))
                if encoded is None:
                    return None, tiles
                tiles += n
                done[span.digest] = encoded
            features = done[span.digest]
            positions = [p for p in prompt.image_positions if span.start <= p < span.end]
            rows[positions] = torch.arange(at, at + len(positions))
            parts.append(features)
            at += len(positions)
        features = torch.cat(parts) if parts else None
        return _PromptEmbedder(self._text, rows, features), tiles

    def _features_of(
        self, picture: Picture, high_detail: bool, pixels: Any = None
    ) -> tuple[Any, int]:
        """The vision encoder's output for `picture` at this detail: kept from before (most
        recently used last, at most KEPT_PICTURES), or encoded now from its processed
        `pixels` (processed here when not given); and the tiles encoded now. None when
        stopped meanwhile."""
        key = (picture.digest, high_detail)
        if key in self._features:
            self._features.move_to_end(key)
            return self._features[key], 0
        if pixels is None:
            pixels = self._pictures.pixels(self._processor, picture, high_detail)
        encoded = self._encode(pixels)
        if encoded is None:
            return None, 0
        self._features[key] = encoded
        while len(self._features) > KEPT_PICTURES:
            self._features.popitem(last=False)
        return encoded, pixels["pixel_values"].shape[1]

    def prepare_pictures(self, paths: Sequence[Path], high_detail: bool) -> list[Path]:
        """Read pictures before the question about them: the window calls this (on the model's
        thread) as soon as pictures are attached, so that sending waits only for the prefill.
        Returns the paths whose pictures are now read (encoded now or before). A picture that
        cannot be opened is skipped (sending it says why); `cancel` stops between tiles."""
        if self._model is None:
            return []
        import torch

        self._cancel.clear()
        ready = []
        with torch.inference_mode(), onednn_for_prefill_only(self._bf16):
            for path in paths:
                try:
                    picture = self._pictures.open(Path(path))
                except UserError:
                    continue
                features, _ = self._features_of(picture, high_detail)
                if features is None:
                    break
                ready.append(Path(path))
        return ready

    def _encode(self, pixels: Any) -> Any:
        """Features of one picture's tiles, one tile at a time so Stop is seen between them."""
        import torch

        values, mask = pixels["pixel_values"], pixels["pixel_attention_mask"]
        out = []
        for tile in range(values.shape[1]):
            if self._cancel.is_set():
                return None
            encoded = self._model.model.get_image_features(
                values[:, tile : tile + 1], mask[:, tile : tile + 1]
            )
            out.append(torch.cat(list(encoded.pooler_output)))
        return torch.cat(out)

    def _reply(
        self,
        stream: TextStream,
        prompt: VisionPrompt,
        started: float,
        preprocessed: float,
        vision_s: float,
        result: Any,
    ) -> Reply:
        stats = reply_stats(
            started,
            result.first_token_at if result else None,
            result.new_tokens if result else 0,
            prompt_tokens=len(prompt.ids),
            stopped=result.cancelled if result else True,
            cached_tokens=result.reused if result else 0,
            precision=self.precision,
            dropped_messages=prompt.dropped,
            image_tokens=len(prompt.image_positions),
            preprocess_s=preprocessed - started,
            vision_s=vision_s,
        )
        return Reply(text=stream.text, stats=stats)

    def reset_cache(self) -> None:
        """Forget the kept KV cache and opened pictures: the next question is sent cold
        (benchmarks measure a new picture's first question with it)."""
        self._prompt_cache.reset()
        self._pictures.clear()
        self._features.clear()

    def unload(self) -> None:
        self._prompt_cache.reset()
        self._pictures.clear()
        self._features.clear()
        self._model = self._text = None
        self._processor = None
        gc.collect()
