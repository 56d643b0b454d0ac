"""Speech to text through a server's /v1/audio/transcriptions, when the user picks it
(issue 21): the speech found here first, sent as a 16 kHz WAV, silence never sent."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from desktop_assistant.core.errors import ModelError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.remote_speech import RemoteSpeechEngine
from desktop_assistant.inference.speech import SpeechToText
from desktop_assistant.ui.workers.speech import speech_factory_for
from tests.fake_openai_server import FakeOpenAIServer
from tests.fakes_audio import SPEECH_DEV

SPOKEN = "cmd05_dark_mode.wav"


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        running.script.models = ["served-model", "whisper-large-v3"]
        yield running


@pytest.fixture
def speech():
    from desktop_assistant.audio.files import decode_file

    return decode_file(SPEECH_DEV / SPOKEN)


def engine_for(server, **fields):
    remote = Remote("office", server.url, timeout_s=5, speech_model="whisper-large-v3", **fields)
    return RemoteSpeechEngine(remote, "sk-1")


def test_speech_goes_to_the_server_as_a_wav(server, speech):
    engine = engine_for(server)
    assert isinstance(engine, SpeechToText)
    engine.load()
    assert engine.name == "whisper-large-v3 on office"
    quiet = np.zeros(16_000 * 2, np.float32)
    padded = np.concatenate([quiet, speech, quiet])
    result = engine.transcribe(padded)
    assert result.text == "Switch to dark mode." and not result.cancelled
    assert result.audio_s == pytest.approx(len(padded) / 16_000)
    sent = [r for r in server.requests if r["path"].endswith("/audio/transcriptions")][0]
    assert sent["body"]["model"] == "whisper-large-v3"
    audio, rate = sf.read(io.BytesIO(sent["body"]["file"]))
    assert rate == 16_000 and audio.ndim == 1
    assert len(audio) < len(padded) - 2 * 16_000  # the silence around the speech stayed here
    assert engine.partial(padded).text == ""  # no live text from the server


def test_silence_is_never_sent(server):
    engine = engine_for(server)
    engine.load()
    noise = np.random.default_rng(0).normal(0, 0.002, 16_000 * 3).astype(np.float32)
    assert engine.transcribe(noise).text == ""
    assert not [r for r in server.requests if r["path"].endswith("/audio/transcriptions")]


def test_a_missing_speech_model_and_a_slow_server(server, speech):
    with pytest.raises(ModelError, match="no speech model set"):
        RemoteSpeechEngine(Remote("office", server.url))
    with pytest.raises(ModelError, match="has no speech model 'whisper-1'"):
        RemoteSpeechEngine(Remote("office", server.url, speech_model="whisper-1")).load()
    engine = engine_for(server)
    engine.load()
    server.script.first_delay_s = 10
    result = {}
    thread = threading.Thread(target=lambda: result.update(t=engine.transcribe(speech)))
    thread.start()
    time.sleep(0.5)
    engine.cancel()
    thread.join(timeout=2)
    assert not thread.is_alive() and result["t"].cancelled and result["t"].text == ""


def test_the_speech_setting_picks_it(server, tmp_path, monkeypatch):
    from desktop_assistant.core import remotes

    monkeypatch.setattr(remotes, "_keyring", lambda: None)  # no keyring: no key, no error
    settings = Settings(tmp_path / "settings.json")
    remotes.save_remote(settings, Remote("office", server.url, speech_model="whisper-large-v3"))
    engine = speech_factory_for(settings)("remote:office")
    assert isinstance(engine, RemoteSpeechEngine)
