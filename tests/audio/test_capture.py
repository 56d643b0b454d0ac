"""Recording from an injected device: a fake microphone replays the speech-dev WAV files."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_assistant.audio import capture
from desktop_assistant.audio.capture import Recorder, SoundDeviceStream, dbfs, list_input_devices
from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import SAMPLE_RATE
from desktop_assistant.audio.vad import SpeechDetector, VadOptions, load_model
from tests.fakes_audio import SPEECH_DEV, FakeInputStream

NEG03 = SPEECH_DEV / "neg03_command_then_4s_silence.wav"


@pytest.fixture(scope="module")
def vad_model():
    return load_model()


def test_records_resampled_mono_with_level_and_elapsed(vad_model):
    device = FakeInputStream(SPEECH_DEV / "dict02_rice_dinners.wav", samplerate=44_100)
    levels, elapsed = [], []
    recorder = Recorder(device, on_level=levels.append, on_elapsed=elapsed.append)
    recorder.start()
    assert device.finished.wait(10)
    recording = recorder.stop()
    assert recording.stopped_by == "user" and recording.error is None
    assert recording.audio.dtype == np.float32 and recording.audio.ndim == 1
    assert recording.duration_s == pytest.approx(len(device.source) / SAMPLE_RATE, abs=0.05)
    assert len(levels) == device.blocks_sent and len(elapsed) == device.blocks_sent
    assert max(levels) > -20 and min(levels) < -60  # speech peaks and the silent edges
    assert elapsed == sorted(elapsed) and elapsed[-1] == pytest.approx(
        recording.duration_s, abs=0.05
    )
    n = min(len(recording.audio), len(device.source))
    error = recording.audio[:n] - device.source[:n]
    assert np.sqrt(np.mean(error**2)) < 0.02  # 16 kHz -> 44.1 kHz stereo -> 16 kHz mono


def test_stops_by_itself_after_trailing_silence(vad_model):
    device = FakeInputStream(NEG03, speed=4.0)
    stopped = []
    detector = SpeechDetector(VadOptions(trailing_silence_s=0.8), vad_model)
    recorder = Recorder(device, detector, on_stopped=stopped.append)
    recorder.start()
    assert recorder.wait(10)
    recording = recorder.stop()
    assert stopped == [recording]
    assert recording.stopped_by == "silence"
    assert 1.6 < recording.duration_s < 2.4  # the 5.25 s clip was cut ~0.8 s after speech
    assert device.stopped.is_set()  # the device was released
    assert recording.speech is not None
    assert 0.8 < len(recording.speech) / SAMPLE_RATE < recording.duration_s  # leading silence gone


@pytest.mark.parametrize("name", ["neg01_silence_3s.wav", "neg02_pink_noise_3s.wav"])
def test_silence_or_noise_alone_gives_no_speech(vad_model, name):
    device = FakeInputStream(SPEECH_DEV / name)
    pauses = []
    recorder = Recorder(device, SpeechDetector(model=vad_model), on_pause=lambda: pauses.append(1))
    recorder.start()
    assert device.finished.wait(10)
    recording = recorder.stop()
    assert recording.stopped_by == "user"
    assert recording.speech is None and not pauses
    assert recording.duration_s == pytest.approx(3.0, abs=0.05)


def test_pause_is_reported_once_per_pause(vad_model):
    device = FakeInputStream(SPEECH_DEV / "cmd11_scroll_up.wav")
    pauses = []
    recorder = Recorder(device, SpeechDetector(model=vad_model), on_pause=lambda: pauses.append(1))
    recorder.start()
    assert device.finished.wait(10)
    recorder.stop()
    assert pauses == [1]


def test_device_failure_keeps_what_was_recorded(vad_model):
    device = FakeInputStream(SPEECH_DEV / "dict01_self_attention.wav", fail_after_s=2.0)
    stopped = []
    recorder = Recorder(device, SpeechDetector(model=vad_model), on_stopped=stopped.append)
    recorder.start()
    assert recorder.wait(10)
    recording = recorder.stop()
    assert recording.stopped_by == "failure"
    assert isinstance(recording.error, AudioError)
    assert "unplugged" in str(recording.error)
    assert recording.duration_s == pytest.approx(2.0, abs=0.05)
    assert recording.speech is not None  # the speech heard before the failure is kept
    assert stopped == [recording]


def test_a_device_that_goes_silent_is_a_failure():
    device = FakeInputStream(SPEECH_DEV / "cmd02_stop.wav")  # sends its blocks, then nothing
    recorder = Recorder(device, stall_s=0.3)
    recorder.start()
    assert recorder.wait(10)
    recording = recorder.stop()
    assert recording.stopped_by == "failure"
    assert "stopped sending sound" in str(recording.error)
    assert recording.duration_s == pytest.approx(1.4, abs=0.05)


def test_length_limit():
    device = FakeInputStream(SPEECH_DEV / "dict03_landlord_email.wav")
    recorder = Recorder(device, max_seconds=1.5)
    recorder.start()
    assert recorder.wait(10)
    recording = recorder.stop()
    assert recording.stopped_by == "limit"
    assert recording.duration_s == pytest.approx(1.5, abs=0.01)


def test_device_that_cannot_start():
    device = FakeInputStream(SPEECH_DEV / "cmd02_stop.wav", start_error="device busy")
    recorder = Recorder(device)
    with pytest.raises(AudioError, match="device busy"):
        recorder.start()
    assert recorder.finished and recorder.stop().stopped_by == "failure"


def test_partial_audio_while_recording_and_cancel(vad_model):
    device = FakeInputStream(SPEECH_DEV / "dict04_world_war.wav", speed=8.0)
    got_some = []
    recorder = Recorder(device)

    def on_elapsed(seconds: float) -> None:
        if seconds > 1.0 and not got_some:
            got_some.append(len(recorder.audio()))

    recorder.on_elapsed = on_elapsed
    stopped = []
    recorder.on_stopped = stopped.append
    recorder.start()
    assert device.finished.wait(10)
    recorder.cancel()
    assert got_some and got_some[0] >= SAMPLE_RATE
    assert not stopped  # a cancelled recording is not handed on


def test_dbfs():
    assert dbfs(np.zeros(100, np.float32)) == -100.0
    assert dbfs(np.ones(100, np.float32)) == pytest.approx(0.0)
    assert dbfs(np.full(100, 0.1, np.float32)) == pytest.approx(-20.0)


def test_no_microphone_message(monkeypatch):
    monkeypatch.setattr(capture, "list_input_devices", lambda: [])
    with pytest.raises(AudioError, match="No microphone found"):
        SoundDeviceStream()


def test_unknown_microphone_names_the_available_ones(monkeypatch):
    devices = [capture.InputDevice(3, "USB Mic", 1, 48_000.0, True)]
    monkeypatch.setattr(capture, "list_input_devices", lambda: devices)
    with pytest.raises(AudioError, match="USB Mic"):
        SoundDeviceStream("Headset")
    stream = SoundDeviceStream("usb")
    assert (stream.device, stream.samplerate, stream.channels) == (3, 48_000.0, 1)


def test_device_listing_never_raises():
    assert isinstance(list_input_devices(), list)  # empty on a machine without sound cards
