#!/usr/bin/env python3
"""Baseline: our Whisper engine's speed and accuracy next to faster-whisper's int8 (dev-only).

faster-whisper (CTranslate2) is a dev dependency (`.venv/bin/pip install faster-whisper`, or
the `dev` extra); it runs the same model converted to CTranslate2 (the `-ct2` folder beside the
Hugging Face one). Both get the same decoded 16 kHz audio as numpy arrays and the same number
of threads, English, no timestamps, no conditioning on previous text; each decodes with a beam
of 5 (both engines' default) and greedily. Each engine runs in a process of its own, one after
the other; figures are medians.

* long: the six speech-dev dictation clips one after another (~48 s, two 30 s windows).
* commands: each command clip on its own (1.4-3.2 s); `command_2s_s` is the median time to
  text for the clips of 1.8-2.4 s (what a spoken command waits for once it has ended).
* wer / intent_accuracy: over the speech-dev manifest (ours with its VAD, command words and
  snapping; faster-whisper's plain transcript through the same grammar).

Usage:
    .venv/bin/python benchmarks/compare_faster_whisper.py [--model-dir DIR] [--name whisper-base]
        [--threads 2] [--runs 3] [--beam 1|5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEECH_DEV = ROOT.parent / "shared" / "speech-dev"
if not SPEECH_DEV.is_dir():
    SPEECH_DEV = Path("/work/shared/speech-dev")


ENGINES = ("ours5", "faster5", "ours1", "faster1")


def load_clips() -> list[dict[str, Any]]:
    from desktop_assistant.audio.files import decode_file

    entries = [json.loads(line) for line in (SPEECH_DEV / "manifest.jsonl").open()]
    for entry in entries:
        entry["audio"] = decode_file(SPEECH_DEV / entry["file"])
    return entries


class Ours:
    def __init__(self, folder: Path, threads: int, beam: int) -> None:
        from desktop_assistant.inference.speech import WhisperEngine

        self.name = f"ours beam {beam}"
        self.engine = WhisperEngine(folder, language="en", threads=threads, beam_size=beam)
        started = time.perf_counter()
        self.engine.load()
        self.load_s = time.perf_counter() - started
        self.precision = self.engine.precision

    def transcribe(self, audio: Any) -> str:
        return str(self.engine.transcribe(audio).text)


class Faster:
    def __init__(self, folder: Path, threads: int, beam: int) -> None:
        from faster_whisper import WhisperModel

        self.name = f"faster-whisper int8 beam {beam}"
        started = time.perf_counter()
        self.model = WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self.load_s = time.perf_counter() - started
        self.beam = beam
        self.precision = "int8"

    def transcribe(self, audio: Any) -> str:
        segments, _ = self.model.transcribe(
            audio,
            language="en",
            beam_size=self.beam,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return "".join(s.text for s in segments).strip()


def timed(engine: Any, audio: Any) -> tuple[str, float]:
    started = time.perf_counter()
    text = engine.transcribe(audio)
    return text, time.perf_counter() - started


def measure(engines: list[Any], clips: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    import numpy as np

    from desktop_assistant.cli.speech_eval import normalize, word_errors
    from desktop_assistant.core.commands import parse_command

    long_audio = np.concatenate([c["audio"] for c in clips if c["kind"] == "dictation"])
    commands = [c for c in clips if c["kind"] == "command"]
    two_s = [c for c in commands if 1.8 <= len(c["audio"]) / 16_000 <= 2.4]
    long_times: dict[str, list[float]] = {e.name: [] for e in engines}
    command_times: dict[str, list[float]] = {e.name: [] for e in engines}
    two_s_times: dict[str, list[float]] = {e.name: [] for e in engines}
    for engine in engines:  # warm-up
        engine.transcribe(commands[0]["audio"])
    for _ in range(runs):
        for engine in engines:
            long_times[engine.name].append(timed(engine, long_audio)[1])
        for clip in commands:
            for engine in engines:
                seconds = timed(engine, clip["audio"])[1]
                command_times[engine.name].append(seconds)
                if clip in two_s:
                    two_s_times[engine.name].append(seconds)
    command_audio = sum(len(c["audio"]) for c in commands) / 16_000 * runs
    out: dict[str, Any] = {"long_audio_s": round(len(long_audio) / 16_000, 1)}
    for engine in engines:
        errors = words = right = expected = false = 0
        for clip in clips:
            text = engine.transcribe(clip["audio"])
            reference = normalize(clip["text"] or "")
            errors += word_errors(reference, normalize(text))
            words += len(reference)
            command = parse_command(text)
            if clip["intent"]:
                expected += 1
                right += command is not None and command.intent == clip["intent"]
            elif command is not None:
                false += 1
        out[engine.name] = {
            "precision": engine.precision,
            "load_s": round(engine.load_s, 2),
            "rtf_long": round(
                statistics.median(long_times[engine.name]) / len(long_audio) * 16_000, 4
            ),
            "rtf_long_runs": [
                round(t / len(long_audio) * 16_000, 4) for t in long_times[engine.name]
            ],
            "rtf_commands": round(sum(command_times[engine.name]) / command_audio, 4),
            "command_2s_s": round(statistics.median(two_s_times[engine.name]), 3),
            "wer": round(errors / words, 4),
            "intent_accuracy": round(right / expected, 4),
            "false_commands": false,
        }
    return out


def _measure_one(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(args.model_dir).expanduser()
    clips = load_clips()
    beam = 5 if args.engine.endswith("5") else 1
    if args.engine.startswith("ours"):
        engine: Any = Ours(base / args.name, args.threads, beam)
    else:
        engine = Faster(base / f"{args.name}-ct2", args.threads, beam)
    return {"model": args.name, "threads": args.threads, **measure([engine], clips, args.runs)}


def _each_in_its_own_process(args: argparse.Namespace) -> dict[str, Any]:
    """One process per engine: in one process, torch's and CTranslate2's thread pools slow
    each other down (measured: our long-audio RTF 0.063 beside faster-whisper, 0.041-0.045
    alone; faster-whisper's 0.048 beside ours, 0.067-0.069 alone)."""
    import subprocess

    result: dict[str, Any] = {}
    for engine in ENGINES if args.beam is None else [e for e in ENGINES if e[-1] == args.beam]:
        command = [sys.executable, __file__, "--engine", engine, "--json"]
        command += ["--model-dir", args.model_dir, "--name", args.name]
        command += ["--threads", str(args.threads), "--runs", str(args.runs)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result.update(json.loads(out.strip().splitlines()[-1]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get(
        "DESKTOP_ASSISTANT_TEST_MODELS", str(Path.home() / ".cache" / "desktop-assistant-dev")
    )
    parser.add_argument("--model-dir", default=default_dir)
    parser.add_argument("--name", default="whisper-base", help="folder; NAME-ct2 beside it")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--beam", choices=("1", "5"), help="only this beam size (default both)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        help="measure one engine in this process (by default each runs in a process of its own)",
    )
    args = parser.parse_args()
    result = _each_in_its_own_process(args) if args.engine is None else _measure_one(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
