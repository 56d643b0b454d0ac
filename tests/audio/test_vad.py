"""Voice activity detection on the speech-dev clips, fed as a microphone would."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from desktop_assistant.audio.files import SAMPLE_RATE, decode_file
from desktop_assistant.audio.vad import (
    SpeechDetector,
    VadOptions,
    load_model,
    speech_bounds,
    trim_to_speech,
)
from tests.fakes_audio import SPEECH_DEV

MANIFEST = {
    e["file"]: e for e in map(json.loads, (SPEECH_DEV / "manifest.jsonl").read_text().splitlines())
}


@pytest.fixture(scope="module")
def vad_model():
    return load_model()


def stream(detector: SpeechDetector, audio: np.ndarray, block: int = 480):
    """Feed 30 ms blocks; return the audio time at which the detector first said `ended`."""
    for start in range(0, len(audio), block):
        detector.feed(audio[start : start + block])
        if detector.ended:
            return detector.position_s
    return None


def test_loading_keeps_torch_threads():
    before = torch.get_num_threads()
    load_model()
    assert torch.get_num_threads() == before  # silero_vad's own loader sets it to 1


def test_auto_stop_fires_about_a_second_after_speech(vad_model):
    entry = MANIFEST["neg03_command_then_4s_silence.wav"]
    detector = SpeechDetector(VadOptions(trailing_silence_s=0.8), vad_model)
    fired = stream(detector, decode_file(SPEECH_DEV / entry["file"]))
    assert fired is not None
    assert detector.speech_start_s is not None and 0.1 < detector.speech_start_s < 0.5
    assert fired - detector.last_speech_s == pytest.approx(0.8, abs=0.05)
    assert entry["speech_ends_s"] < fired < entry["speech_ends_s"] + 1.2  # well before 5.25 s
    assert fired < entry["seconds"] - 3


def test_trailing_silence_is_configurable(vad_model):
    audio = decode_file(SPEECH_DEV / "neg03_command_then_4s_silence.wav")
    quick = stream(SpeechDetector(VadOptions(trailing_silence_s=0.4), vad_model), audio)
    slow = stream(SpeechDetector(VadOptions(trailing_silence_s=2.0), vad_model), audio)
    assert quick is not None and slow is not None
    assert slow - quick == pytest.approx(1.6, abs=0.05)


@pytest.mark.parametrize("name", ["neg01_silence_3s.wav", "neg02_pink_noise_3s.wav"])
def test_silence_and_noise_are_not_speech(vad_model, name):
    audio = decode_file(SPEECH_DEV / name)
    detector = SpeechDetector(model=vad_model)
    assert stream(detector, audio) is None
    assert not detector.heard_speech and not detector.paused
    assert trim_to_speech(audio, model=vad_model) is None


def test_speech_without_enough_trailing_silence_does_not_end(vad_model):
    detector = SpeechDetector(model=vad_model)
    assert stream(detector, decode_file(SPEECH_DEV / "cmd01_new_chat.wav")) is None
    assert detector.heard_speech and detector.paused  # a pause: decoding may start ahead


def test_trim_cuts_leading_silence(vad_model):
    speech = decode_file(SPEECH_DEV / "cmd05_dark_mode.wav")
    padded = np.concatenate([np.zeros(3 * SAMPLE_RATE, np.float32), speech])
    trimmed = trim_to_speech(padded, model=vad_model)
    assert trimmed is not None
    assert len(trimmed) < len(speech)  # the 3 s and most of the clip's own 0.3 s are gone
    assert len(trimmed) > SAMPLE_RATE


def test_block_size_does_not_matter(vad_model):
    audio = decode_file(SPEECH_DEV / "neg03_command_then_4s_silence.wav")
    results = []
    for block in (160, 512, 4000):
        detector = SpeechDetector(model=vad_model)
        results.append((stream(detector, audio, block) is not None, detector.speech_start_s))
    assert results[0] == results[1] == results[2]


def test_reset_forgets_the_last_utterance(vad_model):
    detector = SpeechDetector(model=vad_model)
    stream(detector, decode_file(SPEECH_DEV / "neg03_command_then_4s_silence.wav"))
    assert detector.ended
    detector.reset()
    assert not detector.heard_speech and detector.position_s == 0
    assert stream(detector, decode_file(SPEECH_DEV / "neg01_silence_3s.wav")) is None


def test_long_audio_is_scanned_from_both_ends(vad_model):
    speech = decode_file(SPEECH_DEV / "dict02_rice_dinners.wav")
    silence = np.zeros(20 * SAMPLE_RATE, np.float32)
    audio = np.concatenate([silence, speech, silence[: 12 * SAMPLE_RATE], speech, silence])
    bounds = speech_bounds(audio, model=vad_model)
    assert bounds is not None
    whole = SpeechDetector(model=vad_model)
    whole.feed(audio)
    assert bounds[0] == pytest.approx(whole.speech_start_s, abs=0.05)
    assert bounds[1] == pytest.approx(whole.last_speech_s, abs=0.1)
    assert speech_bounds(np.zeros(40 * SAMPLE_RATE, np.float32), model=vad_model) is None
