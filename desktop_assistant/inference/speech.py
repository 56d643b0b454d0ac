"""Speech to text: the `SpeechToText` Protocol and `WhisperEngine`, Whisper run on the CPU.

`WhisperEngine` loads `WhisperForConditionalGeneration` and `WhisperProcessor` from a local
folder once, on the thread that owns it, and decodes with its own loop (openai/whisper's recipe:
beam search of 5 for final transcripts, greedy for partial ones; whisper_decode.py) rather than
`generate`: per-token cancel, no-speech probability and mean log-probability come out of the
same pass, the beam's other hypotheses are kept for command snapping, and timestamps stay off.

- Silence is never sent to the model: silero-vad finds the speech first; audio with none
  gives an empty transcript (no hallucinated "Thank you."), as does a window whose
  no-speech probability is high while its text is unlikely (openai/whisper's thresholds).
- Long audio runs in windows of at most 30 s, cut at a quiet moment, with progress.
- The encoder sees the speech plus `ENCODER_PAD_S` rather than a whole 30 s window.
- Linear layers run with int8 weights where the CPU has fbgemm (`quantize_linears`): the
  same words as fp32 on speech-dev, 1.6x faster encoder, 1.6x faster decoder steps.
- Speech is decoded on its own words first. A short utterance (up to `COMMAND_MAX_S`) that is
  no command is decoded again after the app's command phrases as "previous text" (which made
  real speech worse when always used: "seven of clubs" came out as "7F clubs"), and one that
  is close to a command but not one ("new cat") is snapped to the command when the model finds
  it almost as likely (whisper_decode.py). Commands found either way that are not nearly the
  words first heard are marked as guesses (`snapped_from`): the window asks before acting.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from desktop_assistant.core.errors import ModelError
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.base import LocalEngine
from desktop_assistant.inference.engine import ProgressCallback
from desktop_assistant.inference.language import SpokenLanguage

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000
WINDOW_S = 30.0  # Whisper's input length
MAX_TOKENS = 224  # per window (half of the decoder's 448 positions, as openai/whisper)
NO_SPEECH_PROB = 0.6  # openai/whisper: a window is silent when no-speech is above this...
LOGPROB_FLOOR = -1.0  # ...and the text's mean log-probability below this
PRECISIONS = ("auto", "int8", "fp32")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
COMMAND_MAX_S = 4.0  # speech this short may be a voice command: decode it with command words
# Final transcripts are decoded with beam search (openai/whisper's and faster-whisper's default
# size); partial ones, shown while the user speaks, greedily. Measured with whisper-base on
# speech-dev: WER 4.5% vs 7.5% greedy, intent accuracy 100% vs 86%, for 1.35x the time of
# long audio (`desktop-assistant eval speech --beam-size N`, benchmarks/compare_faster_whisper.py).
BEAM_SIZE = 5
# The encoder sees the speech plus this much (padding) instead of a whole 30 s window.
# Measured with whisper-base on speech-dev: same intent accuracy, lower WER, 3x less encoder
# time for a 2 s command (see `desktop-assistant eval speech --full-window`).
ENCODER_PAD_S = 6.0

WindowProgress = Callable[[float, float], None]  # (seconds done, seconds in all)


@dataclass(frozen=True)
class Transcript:
    text: str  # "" when there was no speech
    language: str  # code of the language spoken (detected or fixed), "" when unknown
    audio_s: float  # length of the audio given
    processing_s: float  # wall time of transcribe()
    no_speech_prob: float = 1.0  # highest over the decoded windows (1.0: nothing decoded)
    avg_logprob: float = 0.0  # mean log-probability per token of the text
    windows: int = 0  # 30 s windows decoded
    cancelled: bool = False  # cancel() cut it short; `text` is what was decoded so far
    snapped_from: str = ""  # the model's own words when they were snapped to a command
    remembered_language: str = ""  # on auto: the speaker's language as remembered after this


@runtime_checkable
class SpeechToText(Protocol):
    """One engine is owned by one thread: `load`, `transcribe`, `partial` and `unload` run
    on it; `cancel` may be called from any thread."""

    @property
    def name(self) -> str: ...

    @property
    def is_loaded(self) -> bool: ...

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load the weights; raises `ModelError` with a user-facing message."""
        ...

    def transcribe(
        self, audio: np.ndarray, progress: WindowProgress | None = None, trimmed: bool = False
    ) -> Transcript:
        """The final transcript of 16 kHz mono float32 audio. `trimmed`: a voice detector (the
        microphone's) has already cut the audio to its speech, so it is not searched again."""
        ...

    def partial(self, audio: np.ndarray) -> Transcript:
        """A quick transcript of a growing recording (its last 30 s), about once a second,
        once the recorder's detector has heard speech (no voice detection is run here)."""
        ...

    def cancel(self) -> None: ...

    def unload(self) -> None: ...


def command_context() -> str:
    """The "previous text" short utterances are decoded after: the app's command phrases, so
    that Whisper leans to "send" over "and" when the sound is ambiguous (one per intent, from
    the grammar's canonical phrases; the commands with a slot as their opening words)."""
    from desktop_assistant.core.commands import PHRASES, SLOT_PHRASES

    said = [phrases[0] for phrases in PHRASES.values()] + list(SLOT_PHRASES.values())
    return "Voice commands: " + ", ".join(said) + "."


def check_whisper_folder(path: str | Path) -> Path:
    from desktop_assistant.models.model_folder import check_model_folder

    folder = check_model_folder(path)
    if folder.gguf or folder.model_type != "whisper":
        kind = folder.model_type or "unknown"
        raise ModelError(
            f"{folder.path} is a {kind} model, not a Whisper speech model; choose a folder "
            "with a Whisper model (e.g. whisper-base) for speech to text"
        )
    if not any((folder.path / f).is_file() for f in PROCESSOR_FILES):
        raise ModelError(f"{folder.path} has no preprocessor_config.json (Whisper's audio setup)")
    return folder.path


def find_cut(audio: np.ndarray, start: int, limit: int, search_s: float = 5.0) -> int:
    """Where to end a window that starts at `start`: at most `limit` samples later, at the
    quietest 0.1 s of the last `search_s` (so a word is rarely cut in two)."""
    end = start + limit
    if end >= len(audio):
        return len(audio)
    step = SAMPLE_RATE // 10
    lo = max(start + step, end - int(search_s * SAMPLE_RATE))
    frames = audio[lo:end][: (end - lo) // step * step].reshape(-1, step)
    if not len(frames):
        return end
    quietest = int(np.argmin(np.square(frames).mean(axis=1)))
    return lo + quietest * step + step // 2


class WhisperEngine(LocalEngine):
    """Whisper from a local Hugging Face folder, on the CPU."""

    def __init__(
        self,
        model_path: str | Path,
        language: str = "auto",
        threads: int = 0,
        precision: str = "auto",
        use_vad: bool = True,
        snap_commands: bool = True,
        encoder_s: float | None = ENCODER_PAD_S,
        beam_size: int = BEAM_SIZE,
        language_prior: str | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        super().__init__(model_path, threads)
        self.language = (language or "auto").lower()
        self.requested_precision = precision
        self.use_vad = use_vad
        self.snap_commands = snap_commands
        self.encoder_s = encoder_s  # see whisper_decode.encode; None: always 30 s windows
        if beam_size < 1:
            raise ModelError(f"the beam size must be at least 1, not {beam_size}")
        self.beam_size = beam_size  # for final transcripts; partial ones are greedy
        self._processor: Any = None
        self._vad_model: Any = None
        self._tokens: Any = None
        self._command_context: list[int] | None = None
        # "auto": the language is remembered per speaker (inference/language.py)
        self.spoken = SpokenLanguage(language_prior)
        self._lock = threading.Lock()  # one decode at a time (partial vs transcribe)

    @classmethod
    def from_settings(
        cls,
        model_path: str | Path,
        settings: Settings,
        language: str | None = None,
        beam_size: int | None = None,
        encoder_s: float | None = ENCODER_PAD_S,
    ) -> WhisperEngine:
        """The engine as the user set it up: the window, dropped files, `transcribe` and
        `eval speech` all make theirs here, so they hear the same words."""
        from desktop_assistant.inference.language import language_prior

        return cls(
            model_path,
            language=language or settings.get("stt_language"),
            threads=settings.get("threads"),
            encoder_s=encoder_s,
            beam_size=BEAM_SIZE if beam_size is None else beam_size,
            language_prior=language_prior(settings),
        )

    @property
    def processor(self) -> Any:
        """The WhisperProcessor (feature extractor and tokenizer), once loaded."""
        return self._processor

    @property
    def tokens(self) -> WhisperTokens:
        """The special token ids the decoding loop needs, once loaded."""
        return self._tokens

    @property
    def vad_model(self) -> Any:
        """silero-vad, once loaded when `use_vad` (None otherwise)."""
        return self._vad_model

    def load(self, progress: ProgressCallback | None = None) -> None:
        from desktop_assistant.inference.runtime import prepare_to_load

        folder = check_whisper_folder(self.model_path)
        prepare_to_load(self.threads)
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if progress:
            progress(f"Loading the speech model {self.name}…")
        try:
            processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
            model = WhisperForConditionalGeneration.from_pretrained(
                folder, dtype=torch.float32, local_files_only=True, use_safetensors=True
            ).eval()
        except Exception as err:
            raise ModelError(f"could not load the speech model in {folder}: {err}") from err
        self._precision = self._resolve_precision()
        if self.precision == "int8":
            quantize_linears(model)
        from desktop_assistant.inference.whisper_decode import use_shared_kv_attention

        use_shared_kv_attention(model)  # the beams read the audio's keys and values once
        self._model, self._processor = model, processor
        self._tokens = WhisperTokens(processor.tokenizer, model.generation_config, model.config)
        if self.language != "auto" and self._tokens.multilingual:
            self._tokens.language_id(self.language)  # an unknown code fails now, not later
        self.spoken.use_prior(self._tokens.languages)
        self._command_context = processor.tokenizer.encode(
            " " + command_context(), add_special_tokens=False
        )
        if self.use_vad:
            from desktop_assistant.audio.vad import load_model

            self._vad_model = load_model()
        log.info("loaded speech model %s (%s)", self.name, self.precision)

    def _resolve_precision(self) -> str:
        from desktop_assistant.inference.quantize import dynamic_int8_available

        if self.requested_precision == "auto":
            return "int8" if dynamic_int8_available() else "fp32"
        return self.requested_precision

    def transcribe(
        self, audio: np.ndarray, progress: WindowProgress | None = None, trimmed: bool = False
    ) -> Transcript:
        """See `SpeechToText.transcribe`."""
        samples = np.asarray(audio, np.float32).reshape(-1)
        return self._run(samples, progress, final=True, trimmed=trimmed)

    def partial(self, audio: np.ndarray) -> Transcript:
        """See `SpeechToText.partial`."""
        audio = np.asarray(audio, np.float32).reshape(-1)[-int(WINDOW_S * SAMPLE_RATE) :]
        return self._run(audio, None, final=False)

    def unload(self) -> None:
        self._model = self._processor = self._vad_model = None
        gc.collect()

    def _run(
        self,
        audio: np.ndarray,
        progress: WindowProgress | None,
        final: bool,
        trimmed: bool = False,
    ) -> Transcript:
        if self._model is None:
            raise ModelError("the speech model is not loaded")
        started = time.perf_counter()
        audio_s = len(audio) / SAMPLE_RATE
        self._cancel.clear()
        with self._lock:
            speech = self._speech_only(audio) if final and not trimmed else audio
            if speech is None or len(speech) < SAMPLE_RATE // 10:
                if progress:
                    progress(audio_s, audio_s)
                return Transcript("", "", audio_s, time.perf_counter() - started)
            beams = self.beam_size if final else 1
            result = self._decode_windows(speech, progress, audio_s, beams, final)
        return Transcript(
            text=result.text,
            language=result.language,
            audio_s=audio_s,
            processing_s=time.perf_counter() - started,
            no_speech_prob=result.no_speech_prob,
            avg_logprob=result.avg_logprob,
            windows=result.windows,
            cancelled=result.cancelled,
            snapped_from=result.snapped_from,
            remembered_language=self.spoken.remembered or "",
        )

    def _speech_only(self, audio: np.ndarray) -> np.ndarray | None:
        """The audio from the first to the last speech (padded); None when there is none."""
        if self._vad_model is None:
            return audio
        from desktop_assistant.audio.vad import trim_to_speech

        return trim_to_speech(audio, model=self._vad_model)

    def _snap(self, window: Any, whole: bool) -> tuple[Any, str]:
        """The window, its text snapped to a command when it nearly is one, and the words
        snapped from ("" when none were)."""
        from desktop_assistant.inference.whisper_decode import snap_command

        if not (self.snap_commands and whole and not window.cancelled and window.text):
            return window, ""
        snapped = snap_command(self, window)
        if snapped == window.text:
            return window, ""
        return window.with_text(snapped), window.text

    def _with_command_words(self, piece: np.ndarray, window: Any, beams: int) -> tuple[Any, str]:
        """Short speech that is no command on its own words (so not snapped to one either) is
        decoded again after the app's command phrases as "previous text", the encoder's
        output reused. Returns the window and the words first heard when that found a
        command, which is asked about unless nearly the same words (`_decode_windows`): the
        list can put its own words in Whisper's mouth ("go ahead" came out as "go to the next
        chat")."""
        from desktop_assistant.core.commands import parse_command
        from desktop_assistant.inference.whisper_decode import decode_window

        again = decode_window(
            self,
            piece,
            window.language,
            self._cancel,
            self._command_context,
            beams,
            encoded=window.state[0],
        )
        again, _ = self._snap(again, True)
        if again.cancelled or parse_command(again.text) is None:
            return window, ""
        return again, window.text or "…"

    def _decode_windows(
        self,
        audio: np.ndarray,
        progress: WindowProgress | None,
        audio_s: float,
        beams: int,
        final: bool = True,
    ) -> Transcript:
        import torch

        from desktop_assistant.core.commands import parse_command
        from desktop_assistant.inference.whisper_decode import decode_window, nearly_same

        texts: list[str] = []
        language, no_speech, logprobs, windows = "", 0.0, [], 0
        start, limit = 0, int(WINDOW_S * SAMPLE_RATE)
        cancelled = False
        snapped_from = ""
        speech_s = len(audio) / SAMPLE_RATE

        def choose(probs: dict[str, float]) -> str:  # partial decodes learn nothing
            return self.spoken.choose(probs, speech_s, learn=final)

        while start < len(audio):
            end = find_cut(audio, start, limit)
            piece = audio[start:end]
            with torch.inference_mode():
                short = len(audio) <= COMMAND_MAX_S * SAMPLE_RATE
                window = decode_window(
                    self, piece, language or self.language, self._cancel, None, beams, choose
                )
                window, snapped_from = self._snap(window, len(audio) == len(piece))
                if short and final and not window.cancelled and parse_command(window.text) is None:
                    window, snapped_from = self._with_command_words(piece, window, beams)
                if snapped_from and nearly_same(snapped_from, window.text):
                    snapped_from = ""  # "next chart" -> "next chat": no need to ask
            windows += 1
            language = language or window.language
            silent = window.no_speech_prob > NO_SPEECH_PROB and window.avg_logprob < LOGPROB_FLOOR
            if window.text and not silent:
                texts.append(window.text)
                logprobs.append(window.avg_logprob)
            no_speech = max(no_speech, window.no_speech_prob)
            start = end
            if progress:  # in seconds of the audio given (silence trimmed off included)
                progress(audio_s * start / len(audio), audio_s)
            if window.cancelled:
                cancelled = True
                break
        return Transcript(
            text=" ".join(texts).strip(),
            language=language,
            audio_s=audio_s,
            processing_s=0.0,
            no_speech_prob=no_speech,
            avg_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
            windows=windows,
            cancelled=cancelled,
            snapped_from=snapped_from,
        )


class WhisperTokens:
    """The special token ids the decoding loop needs, from the tokenizer and configs."""

    def __init__(self, tokenizer: Any, generation_config: Any, config: Any) -> None:
        self.tokenizer = tokenizer
        ids = tokenizer.convert_tokens_to_ids
        self.eot = int(generation_config.eos_token_id or config.eos_token_id)
        self.sot = int(generation_config.decoder_start_token_id or config.decoder_start_token_id)
        lang_to_id = getattr(generation_config, "lang_to_id", None) or {}
        self.languages = {k.strip("<|>"): int(v) for k, v in lang_to_id.items()}
        self.multilingual = bool(getattr(generation_config, "is_multilingual", False))
        self.multilingual = self.multilingual and bool(self.languages)
        self.transcribe = ids("<|transcribe|>")
        self.start_of_prev = ids("<|startofprev|>")
        if self.start_of_prev == self.eot:  # unknown token
            self.start_of_prev = 0
        self.no_timestamps = int(getattr(generation_config, "no_timestamps_token_id", 0) or 0)
        self.no_timestamps = self.no_timestamps or ids("<|notimestamps|>")
        self.no_speech = next(
            (ids(t) for t in ("<|nospeech|>", "<|nocaptions|>") if ids(t) != self.eot), None
        )
        self.suppress = list(getattr(generation_config, "suppress_tokens", None) or [])
        self.begin_suppress = list(getattr(generation_config, "begin_suppress_tokens", None) or [])
        self.vocab_size = int(config.vocab_size)

    def language_id(self, code: str) -> int:
        if code not in self.languages:
            from desktop_assistant.core.errors import UserError

            raise UserError(
                f"unknown language code {code!r} for this speech model; use auto or one of: "
                + ", ".join(sorted(self.languages)[:20])
                + ", …"
            )
        return self.languages[code]

    def prompt(self, language: str) -> list[int]:
        """<|startoftranscript|> [<|lang|> <|transcribe|>] <|notimestamps|>"""
        if not self.multilingual:
            return [self.sot, self.no_timestamps]
        return [self.sot, self.language_id(language), self.transcribe, self.no_timestamps]


def quantize_linears(model: Any) -> Any:
    """int8 weights everywhere, two kinds of kernel:

    - dynamic int8 (fbgemm, activations quantized per call) where the activations are many or
      computed once: the encoder, the decoder's projections of the encoder output
      (cross-attention keys and values, once per window) and the output projection (in fp32
      it reads 106 MB per token; its own int8 copy leaves the token table it was tied to
      in fp32);
    - weight-only int8 (bf16 activations) for the decoder's per-token Linears. With int8
      activations there, differences of 1e-6 upstream (another attention kernel) flipped
      rounding and changed which beam won, moving speech-dev's word errors between 8 and 11;
      with weight-only int8 the result is fp32's (9) whatever the kernel, and a beam-of-5
      decoder step takes 12.5 ms instead of fp32's 20 ms (13.8 vs 24 ms capped to AVX2)."""
    from torch import nn

    from desktop_assistant.inference.quantize import DynamicInt8Linear, Int8Linear, prepare

    for module_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{module_name}.{child_name}"
            if isinstance(child, nn.Linear):
                kind = DynamicInt8Linear if _dynamic(name) else Int8Linear
                setattr(parent, child_name, kind.from_linear(child))
    return prepare(model)


def _dynamic(name: str) -> bool:
    return (
        ".encoder." in name
        or name.endswith("proj_out")
        or name.endswith(("encoder_attn.k_proj", "encoder_attn.v_proj"))
    )
