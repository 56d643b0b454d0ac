"""transcribe, eval speech and bench stt, run as a user runs them: a subprocess."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fakes_audio import SPEECH_DEV
from tests.test_cli import assert_one_error_line, run

pytestmark = pytest.mark.slow  # each test starts the app as a user does (a new Python)


def test_transcribe_json(tiny_whisper_dir):
    clip = SPEECH_DEV / "cmd02_stop.wav"
    result = run(
        "transcribe", "--model", str(tiny_whisper_dir), "--language", "en", "--json", str(clip)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"text", "language", "command", "ask_first", "audio_s", "processing_s"}
    assert data["ask_first"] is False or data["command"] is not None
    assert isinstance(data["text"], str) and data["language"] == "en"
    assert data["command"] is None or set(data["command"]) == {"intent", "slots"}
    assert data["audio_s"] == 1.401 and data["processing_s"] > 0


def test_transcribe_silence_prints_an_empty_line(tiny_whisper_dir, isolated_home):
    settings = isolated_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"stt_model_path": str(tiny_whisper_dir)}))  # remembered
    result = run("transcribe", str(SPEECH_DEV / "neg01_silence_3s.wav"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\n"


def test_transcribe_errors(tmp_path, tiny_whisper_dir):
    text = tmp_path / "notes.mp3"
    text.write_text("not audio")
    clip = str(SPEECH_DEV / "cmd02_stop.wav")
    for args, fragment in [
        (("transcribe", "--model", str(tiny_whisper_dir), str(text)), "not an audio file"),
        (("transcribe", "--model", str(tiny_whisper_dir), "/no/such.wav"), "not found"),
        (("transcribe", clip), "no speech model configured"),
        (("transcribe", "--model", "/no/such/folder", clip), "model folder not found"),
        (("transcribe", "--model", str(tiny_whisper_dir), "--language", "xx", clip), "xx"),
        (("transcribe", "--model", str(tiny_whisper_dir), "--beam-size", "0", clip), "beam size"),
    ]:
        assert_one_error_line(run(*args), 2, fragment)


def test_eval_speech_on_a_small_manifest(tmp_path, tiny_whisper_dir):
    lines = [
        line
        for line in (SPEECH_DEV / "manifest.jsonl").read_text().splitlines()
        if any(name in line for name in ("cmd02_stop", "neg01_silence", "dict05"))
    ]
    for line in lines:
        name = json.loads(line)["file"]
        shutil.copy(SPEECH_DEV / name, tmp_path / name)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    model = str(tiny_whisper_dir)
    result = run("eval", "speech", "--model", model, "--manifest", str(manifest), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["clips"] == 3 and data["command_clips"] == 1 and len(data["per_clip"]) == 3
    assert 0 <= data["intent_accuracy"] <= 1 and data["wer"] >= 0 and data["words"] > 15
    assert data["text_on_silence_or_noise"] == 0  # the VAD keeps silence from the model
    assert data["beam_size"] == 5  # the app's default
    greedy = run(
        "eval",
        "speech",
        "--model",
        model,
        "--manifest",
        str(manifest),
        "--beam-size",
        "1",
        "--json",
    )
    assert json.loads(greedy.stdout)["beam_size"] == 1
    bad = run("eval", "speech", "--model", model, "--manifest", str(tmp_path / "none.jsonl"))
    assert_one_error_line(bad, 2, "cannot read the manifest")


def test_bench_stt(tiny_whisper_dir):
    clip = str(SPEECH_DEV / "cmd11_scroll_up.wav")
    result = run(
        "bench", "stt", "--model", str(tiny_whisper_dir), "--audio", clip, "--runs", "1", "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "load_s",
        "rtf",
        "eos_to_text_s",
        "decode_s",
        "pause_detected_after_s",
        "peak_rss_mb",
    ):
        assert data[key] > 0, key
    assert 0.1 < data["pause_detected_after_s"] < 0.5
    assert data["beam_size"] == 5
