"""Speech measurements: `eval speech` (word error rate, intent accuracy over a manifest) and
`bench stt` (load time, real-time factor, end-of-speech-to-text time, peak RSS).

The manifest is JSON lines like ../shared/speech-dev/manifest.jsonl: {"file", "text", "kind":
"command" | "dictation" | "negative", "intent", "slots"?}; files are relative to it.
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from desktop_assistant.core.errors import UserError

_SMALL = [
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(match: re.Match[str]) -> str:
    n = int(match.group())
    if n < 20:
        return _SMALL[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens - 2] + ("" if ones == 0 else " " + _SMALL[ones])
    return match.group()


# Scored as real-speech's README asks (on both sides): titles spelled out, fillers dropped.
_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
_FILLERS = frozenset({"uh", "um", "uhm", "umm", "er", "erm", "ah", "hmm", "mm", "mhm"})


def normalize(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, hyphens split, 0-99 spelled out, mr. as
    mister (and mrs., dr., st.), fillers (uh, um...) dropped."""
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    text = re.sub(r"\b\d{1,2}\b", _number_words, text)
    text = re.sub(r"[^\w\s']", " ", text)
    words = (w.strip("'") for w in text.split())
    return [_TITLES.get(w, w) for w in words if w and w not in _FILLERS]


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"cannot read the manifest {path}: {err.strerror or err}") from err
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            entry["path"] = str(path.parent / entry["file"])
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path} line {number} is not a manifest entry ({err})") from err
        entries.append(entry)
    if not entries:
        raise UserError(f"{path} lists no audio files")
    return entries


def _same_slots(expected: dict[str, Any], got: dict[str, Any]) -> bool:
    def fold(v: Any) -> Any:
        return v.casefold() if isinstance(v, str) else v

    return {k: fold(v) for k, v in expected.items()} == {k: fold(v) for k, v in got.items()}


def make_engine(
    model: str, language: str | None, full_window: bool = False, beam_size: int | None = None
) -> Any:
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.inference.speech import ENCODER_PAD_S, WhisperEngine

    return WhisperEngine.from_settings(  # as the app: the user's settings
        model,
        Settings(),
        language=language,
        beam_size=beam_size,
        encoder_s=None if full_window else ENCODER_PAD_S,
    )


def eval_speech(
    model: str,
    manifest: str,
    language: str | None = None,
    full_window: bool = False,
    beam_size: int | None = None,
) -> dict[str, Any]:
    """WER over clips with text, intent accuracy over command clips, false commands on the
    others (dictation must stay dictation; silence and noise must give nothing).

    As the window takes them (`core.commands.understand`): a command is carried out at once
    or asked about first ("Did you mean …?"). `intent_accuracy` counts those carried out at
    once and right; `asked_right` / `asked_wrong` the questions; `wrong_commands` those carried
    out at once with another intent; `false_commands` / `false_questions` dictation, silence
    or noise taken for a command."""
    from desktop_assistant.audio.files import decode_file
    from desktop_assistant.core.commands import ANSWERS, understand

    entries = read_manifest(manifest)
    engine = make_engine(model, language, full_window, beam_size)
    engine.load()
    errors = words = commands = intents_right = slots_right = false_commands = 0
    noise_texts = asked_right = asked_wrong = wrong_commands = false_questions = 0
    audio_total = processing_total = 0.0
    clips = []
    for entry in entries:
        audio = decode_file(entry["path"])
        transcript = engine.transcribe(audio)
        audio_total += transcript.audio_s
        processing_total += transcript.processing_s
        heard = understand(transcript.text, snapped=bool(transcript.snapped_from))
        command = heard.command
        reference = normalize(entry.get("text") or "")
        clip_errors = word_errors(reference, normalize(transcript.text))
        if reference:
            errors += clip_errors
            words += len(reference)
        expected = entry.get("intent")
        if expected:
            commands += 1
            if command is not None and command.intent == expected:
                if heard.ask:
                    asked_right += 1
                else:
                    intents_right += 1
                    slots_right += _same_slots(entry.get("slots") or {}, command.slots)
            elif command is not None:
                asked_wrong += heard.ask
                wrong_commands += not heard.ask
        elif command is not None and command.intent not in ANSWERS:
            # a "yes" or "no" with nothing asked is words for the assistant in the window
            false_questions += heard.ask
            false_commands += not heard.ask
        if entry.get("kind") == "negative" and not expected and transcript.text:
            noise_texts += 1
        clips.append(
            {
                "file": entry["file"],
                "text": transcript.text,
                "reference": entry.get("text") or "",
                "word_errors": clip_errors,
                "expected": expected,
                "command": None if command is None else command.intent,
                "slots": None if command is None else command.slots,
                "asked": heard.ask,
                "snapped_from": transcript.snapped_from,
                "processing_s": round(transcript.processing_s, 3),
            }
        )
    return {
        "model": engine.name,
        "precision": engine.precision,
        "language": engine.language,
        "encoder": "30 s windows" if full_window else f"speech + {engine.encoder_s:g} s",
        "beam_size": engine.beam_size,
        "clips": len(entries),
        "wer": round(errors / words, 4) if words else 0.0,
        "word_errors": errors,
        "words": words,
        "intent_accuracy": round(intents_right / commands, 4) if commands else 0.0,
        "slot_accuracy": round(slots_right / intents_right, 4) if intents_right else 0.0,
        "command_clips": commands,
        "asked_right": asked_right,
        "asked_wrong": asked_wrong,
        "wrong_commands": wrong_commands,
        "false_commands": false_commands,
        "false_questions": false_questions,
        "text_on_silence_or_noise": noise_texts,
        "rtf": round(processing_total / audio_total, 4) if audio_total else 0.0,
        "per_clip": clips,
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def voiced_end_s(audio: np.ndarray, floor_dbfs: float = -45.0) -> float:
    """End of the last 10 ms with sound above `floor_dbfs` (the true end of speech, measured
    on the signal, independent of the VAD)."""
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    loud = np.nonzero(10 * np.log10(np.square(frames).mean(axis=1) + 1e-12) > floor_dbfs)[0]
    return float(loud[-1] + 1) * 0.01 if len(loud) else 0.0


def end_of_speech_to_text(engine: Any, audio: np.ndarray, block_s: float = 0.03) -> dict:
    """Replay `audio` as a microphone would deliver it (blocks of `block_s`) through the VAD;
    at the first pause, decode what has arrived (the window decodes ahead instead of waiting
    for the whole trailing silence). Text-ready time = when the pause was detected + how long
    detection and decoding took, measured from the end of the voiced signal."""
    from desktop_assistant.audio.files import SAMPLE_RATE
    from desktop_assistant.audio.vad import SpeechDetector, VadOptions

    detector = SpeechDetector(VadOptions(), engine.vad_model)
    block = int(block_s * SAMPLE_RATE)
    vad_s = 0.0
    paused_at = ended_at = None
    speech = None
    for start in range(0, len(audio), block):
        began = time.perf_counter()
        detector.feed(audio[start : start + block])
        vad_s += time.perf_counter() - began
        if detector.paused and paused_at is None:
            paused_at = min(len(audio), start + block)
            speech = detector.speech_in(audio[:paused_at])  # what the window decodes
        if detector.ended and ended_at is None:
            ended_at = min(len(audio), start + block) / SAMPLE_RATE
    if paused_at is None or speech is None:
        raise UserError("no end of speech found in the command audio (no pause after speech)")
    began = time.perf_counter()
    transcript = engine.transcribe(speech, trimmed=True)
    decode_s = time.perf_counter() - began
    speech_end = voiced_end_s(audio)
    pause_wait = paused_at / SAMPLE_RATE - speech_end
    return {
        "command_text": transcript.text,
        "pause_detected_after_s": round(pause_wait, 3),
        "decode_s": round(decode_s, 3),
        "eos_to_text_s": round(pause_wait + decode_s + vad_s / max(1, len(audio) // block), 3),
        "auto_stop_after_s": None if ended_at is None else round(ended_at - speech_end, 3),
    }


def bench_stt(
    model: str,
    audio_path: str,
    runs: int = 3,
    language: str | None = None,
    command: str | None = None,
    beam_size: int | None = None,
) -> dict[str, Any]:
    import torch

    from desktop_assistant.audio.files import decode_file

    audio = decode_file(audio_path)
    engine = make_engine(model, language, beam_size=beam_size)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    engine.transcribe(audio[: 16_000 * 2])  # warm-up
    times, transcript = [], None
    for _ in range(max(1, runs)):
        transcript = engine.transcribe(audio)
        times.append(transcript.processing_s)
    assert transcript is not None
    processing = statistics.median(times)
    out: dict[str, Any] = {
        "model": engine.name,
        "precision": engine.precision,
        "beam_size": engine.beam_size,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "audio_s": round(transcript.audio_s, 2),
        "processing_s": round(processing, 3),
        "rtf": round(processing / transcript.audio_s, 4),
        "rtf_runs": [round(t / transcript.audio_s, 4) for t in times],
        "text": transcript.text,
    }
    command_audio = decode_file(command) if command else audio
    if len(command_audio) <= 16_000 * 6:
        runs_eos = [end_of_speech_to_text(engine, command_audio) for _ in range(max(1, runs))]
        best = sorted(runs_eos, key=lambda r: r["eos_to_text_s"])[len(runs_eos) // 2]
        out.update(best)
        out["eos_to_text_runs"] = [r["eos_to_text_s"] for r in runs_eos]
    out["peak_rss_mb"] = round(_peak_rss_mb())
    return out


def resolve_stt_model(explicit: str | None) -> str:
    """--model, else the speech model remembered in settings; UserError when neither."""
    if explicit:
        return explicit
    from desktop_assistant.core.settings import Settings

    remembered = Settings().get("stt_model_path")
    if remembered:
        return str(remembered)
    raise UserError(
        "no speech model configured; pass --model PATH to a local Whisper model folder "
        "(config.json, model.safetensors, preprocessor_config.json, tokenizer files)"
    )


def read_sayings(path: str | Path) -> dict[str, Any]:
    """The sayings file: {"commands": {intent: [text or {"text", "slots"}]}, "dictation": []}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        commands, dictation = data["commands"], data["dictation"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a sayings file: {err}") from err
    return {"commands": commands, "dictation": dictation}


def in_split(index: int, split: str) -> bool:
    """Even positions tune, odd ones are held out."""
    return split == "all" or (index % 2 == 1) == (split == "held-out")


def eval_intents(path: str | Path, split: str = "held-out") -> dict[str, Any]:
    """Each saying through the same understanding as the window (`parse_command`): intents
    right (and slots), missed (taken as dictation), wrong (another command); dictation taken
    for a command is a false command."""
    from desktop_assistant.core.commands import parse_command

    sayings = read_sayings(path)
    right = slots_right = 0
    missed: list[str] = []
    wrong: list[str] = []
    false: list[str] = []
    commands = 0
    for intent, says in sayings["commands"].items():
        for index, saying in enumerate(says):
            if not in_split(index, split):
                continue
            text = saying if isinstance(saying, str) else saying["text"]
            slots = {} if isinstance(saying, str) else saying.get("slots", {})
            commands += 1
            command = parse_command(text)
            if command is None:
                missed.append(f"{intent}: {text}")
            elif command.intent != intent:
                wrong.append(f"{intent}: {text} -> {command.intent}")
            else:
                right += 1
                slots_right += _same_slots(slots, command.slots)
    dictation = [t for i, t in enumerate(sayings["dictation"]) if in_split(i, split)]
    for text in dictation:
        command = parse_command(text)
        if command is not None:
            false.append(f"{text} -> {command.intent}")
    return {
        "split": split,
        "commands": commands,
        "intents_right": right,
        "intent_accuracy": round(right / commands, 4) if commands else 0.0,
        "slots_right": slots_right,
        "missed": missed,
        "wrong_commands": wrong,
        "dictation": len(dictation),
        "false_commands": false,
    }


def run(args: Any) -> int:
    """`transcribe`, `eval speech` and `eval intents` from the command line."""
    if args.command == "eval" and args.eval_command == "intents":
        result = eval_intents(args.sayings, args.split)
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            return 0
        for key, value in result.items():
            if isinstance(value, list):
                print(f"{key}: {len(value)}")
                for line in value:
                    print(f"  {line}")
            else:
                print(f"{key}: {value}")
        return 0
    if args.command == "eval":
        result = eval_speech(
            args.stt_model, args.manifest, args.language, args.full_window, args.beam_size
        )
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            for key, value in result.items():
                if key != "per_clip":
                    print(f"{key}: {value}")
            for clip in result["per_clip"]:
                print(f"  {clip['file']}: {clip['text']!r} -> {clip['command']}")
        return 0
    return run_transcribe(args)


def run_transcribe(args: Any) -> int:
    from desktop_assistant.audio.files import decode_file
    from desktop_assistant.core.commands import understand

    audio = decode_file(args.file)  # a bad file is reported before the model loads
    engine = make_engine(resolve_stt_model(args.stt_model), args.language, beam_size=args.beam_size)
    engine.load()
    transcript = engine.transcribe(audio)
    if not args.json:
        print(transcript.text)
        return 0
    heard = understand(transcript.text, snapped=bool(transcript.snapped_from))
    command = heard.command
    out = {
        "text": transcript.text,
        "language": transcript.language,
        "command": None if command is None else {"intent": command.intent, "slots": command.slots},
        "ask_first": heard.ask,
        "audio_s": round(transcript.audio_s, 3),
        "processing_s": round(transcript.processing_s, 3),
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0
