"""Whisper tiny.en and base from ../shared/tools/get-dev-models on the speech-dev set (skipped
without them). Targets with base (issue "Voice"): intent accuracy >= 95%, no false command on
the non-command clips, nothing transcribed from silence or noise; see the WER test for the
word error rate."""

from __future__ import annotations

import pytest

from desktop_assistant.audio.capture import Recorder
from desktop_assistant.audio.vad import SpeechDetector
from desktop_assistant.cli.speech_eval import eval_speech
from desktop_assistant.core.commands import Command, parse_command
from desktop_assistant.inference.speech import WhisperEngine
from tests.fakes_audio import SPEECH_DEV, FakeInputStream

pytestmark = [pytest.mark.real_models, pytest.mark.timeout(300)]
MANIFEST = SPEECH_DEV / "manifest.jsonl"


def _folder(real_models_dir, name):
    folder = real_models_dir / name
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"{folder} is missing; run ../shared/tools/get-dev-models")
    return folder


@pytest.fixture(scope="module")
def base_eval(real_models_dir):
    return eval_speech(str(_folder(real_models_dir, "whisper-base")), str(MANIFEST), "en")


def _show(result):
    return "\n".join(
        f"{c['file']}: {c['text']!r} -> {c['command']}{' (asked)' if c['asked'] else ''} "
        f"(expected {c['expected']})"
        for c in result["per_clip"]
    )


def _right(result):
    """Commands carried out at once, or after "Did you mean …?" and a yes."""
    return result["intent_accuracy"] + result["asked_right"] / result["command_clips"]


def test_base_intent_accuracy(base_eval):
    """Robotic voices come out one sound off ("Rukat"); decoded again after the command list
    they are commands, asked about when the words differ much from those first heard."""
    assert base_eval["command_clips"] == 22
    assert _right(base_eval) >= 0.95, _show(base_eval)
    assert base_eval["intent_accuracy"] >= 0.7, _show(base_eval)
    assert base_eval["wrong_commands"] == base_eval["asked_wrong"] == 0, _show(base_eval)


def test_base_no_false_command_and_nothing_from_silence(base_eval):
    assert base_eval["false_commands"] == 0, _show(base_eval)
    assert base_eval["text_on_silence_or_noise"] == 0, _show(base_eval)


def test_base_word_error_rate(base_eval):
    # Measured with beam search: 4.98% (10 of 201 words) on Zen 4 with VNNI, 5.47% with the
    # CPU capped to AVX2 (7-bit int8 weights there: "self attention" heard as "alpha
    # tension"); greedy 7.5%. The misses left are the model mishearing the robotic voices
    # ("tomato and onion", "done a complete video"); faster-whisper's int8 on the same model
    # does worse (13.4%, benchmarks/compare_faster_whisper.py).
    assert base_eval["beam_size"] == 5
    assert base_eval["wer"] < 0.06, _show(base_eval)


def test_the_default_language_setting_does_as_well_as_english(real_models_dir, base_eval):
    """The app starts with stt_language = auto. The language used to be read from
    <|startoftranscript|> alone and the prompt decoded after it from the cache, where the
    attention hid a token: 97% WER and 2 of 22 commands on auto (issue 16)."""
    result = eval_speech(str(_folder(real_models_dir, "whisper-base")), str(MANIFEST))
    assert result["language"] == "auto"
    assert result["false_commands"] == 0 and result["text_on_silence_or_noise"] == 0
    assert _right(result) >= _right(base_eval), _show(result)
    assert result["wer"] <= base_eval["wer"] + 0.01, _show(result)


def test_tiny_en_is_usable(real_models_dir):
    result = eval_speech(str(_folder(real_models_dir, "whisper-tiny.en")), str(MANIFEST), "en")
    assert result["false_commands"] == 0, _show(result)
    assert result["text_on_silence_or_noise"] == 0, _show(result)
    assert _right(result) >= 0.7 and result["wrong_commands"] == 0, _show(result)
    assert result["wer"] < 0.2, _show(result)


def test_spoken_command_from_the_microphone_to_an_intent(real_models_dir):
    """The fake microphone plays a command then silence at 48 kHz stereo; the recording stops
    by itself and its speech becomes the command."""
    engine = WhisperEngine(_folder(real_models_dir, "whisper-base"), language="en")
    engine.load()
    device = FakeInputStream(SPEECH_DEV / "cmd05_dark_mode.wav", then_silence_s=2.0, speed=4.0)
    recorder = Recorder(device, SpeechDetector())
    recorder.start()
    assert recorder.wait(20)
    recording = recorder.stop()
    assert recording.stopped_by == "silence" and recording.speech is not None
    text = engine.transcribe(recording.speech).text
    assert parse_command(text) == Command("set_theme", {"theme": "dark"}), text


def test_real_speech_word_error_rate(real_models_dir):
    """Recorded people (../shared/real-speech, 308 words), settings as a new user has them,
    against faster-whisper int8 beam 5 on the same weights on the same kind of CPU (the int8
    kernels, and so the words, differ between them). Zen 4 (AVX-512 VNNI): ours 25 word
    errors (8.1%), faster-whisper 27 (8.8%); with the command list always given to short
    clips ours was 28 ("seven of clubs" came out as "7F clubs"). Zen 3 (AVX2 only): ours 29
    (9.4%), faster-whisper 31 (10.1%)."""
    from desktop_assistant.core.cpu import has_avx512_vnni

    manifest = SPEECH_DEV.parent / "real-speech" / "manifest.jsonl"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is missing")
    result = eval_speech(str(_folder(real_models_dir, "whisper-base")), str(manifest))
    theirs = 27 if has_avx512_vnni() else 31  # faster-whisper's word errors on this kind
    assert result["word_errors"] <= theirs, _show(result)
    assert result["false_commands"] == result["false_questions"] == 0, _show(result)
