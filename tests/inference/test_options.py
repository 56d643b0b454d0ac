from __future__ import annotations

import dataclasses

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.options import GenerationOptions


def test_options_are_frozen_and_checked():
    options = GenerationOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.temperature = 1.0  # type: ignore[misc]
    for bad in ({"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -1}):
        with pytest.raises(ValueError):
            GenerationOptions(**bad)


def test_options_from_settings(tmp_path):
    settings = Settings(tmp_path / "s.json")
    assert GenerationOptions.from_settings(settings).seed is None
    settings.set("seed", 7)
    settings.set("max_new_tokens", 64)
    options = GenerationOptions.from_settings(settings)
    assert (options.seed, options.max_new_tokens) == (7, 64)
