"""Shared fixtures: an isolated home for every test, tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REAL_MODELS_ENV = "DESKTOP_ASSISTANT_TEST_MODELS"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Settings and data of each test live in its own folder, never the user's."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESKTOP_ASSISTANT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def real_models_dir() -> Path:
    value = os.environ.get(REAL_MODELS_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{REAL_MODELS_ENV} does not point at the dev models folder")
    return Path(value)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="session")
def tiny_whisper_engine(tiny_whisper_dir):
    """The tiny Whisper loaded as the app loads one (English, one thread); tests must not
    change its settings (monkeypatch, which undoes itself, is fine)."""
    from desktop_assistant.inference.speech import WhisperEngine

    engine = WhisperEngine(tiny_whisper_dir, language="en", threads=1)
    engine.load()
    yield engine
    engine.unload()
