"""The offline guarantee: a whole session (chat, a question about a picture, a transcription,
and the model registry) makes no network connection at all, not even a DNS lookup."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
from PIL import Image

from desktop_assistant.core.conversation import Message
from desktop_assistant.inference.options import GenerationOptions

SHORT = GenerationOptions(max_new_tokens=4, temperature=0)


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every way Python opens a connection fails the test (and is recorded)."""
    attempts: list[str] = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what.startswith('socket.') else args}")
            raise NetworkUsed(f"network used: {attempts[-1]}")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket.socket, "sendto", refuse("socket.sendto"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts
    assert attempts == [], attempts


def test_the_guard_catches_a_connection(no_network):
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
    no_network.clear()


def test_a_full_session_makes_no_connection(
    no_network, tiny_chat_dir, tiny_vlm_dir, tiny_whisper_dir, tmp_path
):
    from desktop_assistant.audio.files import decode_file
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.inference.factory import open_engine
    from desktop_assistant.inference.speech import WhisperEngine
    from desktop_assistant.models import hub, registry
    from desktop_assistant.models.importer import import_model
    from tests.fakes_audio import SPEECH_DEV

    # Setup without network: import what the user has, make it the default.
    settings = Settings(tmp_path / "settings.json")
    chat_model = import_model(tiny_chat_dir)
    registry.set_default("chat", chat_model.id, settings)
    assert registry.resolve_model_arg(chat_model.id) == str(chat_model.path)
    assert [m.id for m in registry.list_installed()] == [chat_model.id]

    chat = open_engine(registry.resolve_model_arg(chat_model.id), "int8", 1)
    chat.load()
    reply = chat.generate([Message("user", "Hello there")], SHORT, lambda text: None)
    assert reply.stats.new_tokens == 4

    picture = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(picture)
    vision = open_engine(tiny_vlm_dir, "int8", 1)
    vision.load()
    answer = vision.generate(
        [Message("user", "What is in this picture?", (picture,))], SHORT, lambda text: None
    )
    assert answer.stats.new_tokens == 4 and answer.stats.image_tokens > 0

    speech = WhisperEngine(tiny_whisper_dir, language="en", threads=1)
    speech.load()
    transcript = speech.transcribe(decode_file(SPEECH_DEV / "cmd02_stop.wav"))
    assert transcript.audio_s > 0 and transcript.windows >= 1

    for engine in (chat, vision, speech):
        engine.unload()
    # The app's offline switches are on, and huggingface_hub refuses requests by itself.
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ.get("HF_HUB_DISABLE_TELEMETRY") == "1"
    assert hub.hub_module().constants.HF_HUB_OFFLINE
