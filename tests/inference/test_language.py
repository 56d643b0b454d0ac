"""The spoken language on auto, remembered per speaker (inference/language.py)."""

from __future__ import annotations

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.language import (
    CONFIDENT_P,
    CONFIDENT_S,
    SpokenLanguage,
    desktop_language,
    language_prior,
)

SURE_EN = {"en": 0.95, "pl": 0.03, "fr": 0.02}
UNSURE_PL = {"pl": 0.45, "en": 0.40, "fr": 0.15}  # a short command, taken for Polish
SURE_FR = {"fr": 0.97, "en": 0.01, "pl": 0.02}


def test_a_short_clip_is_decoded_in_the_remembered_language():
    spoken = SpokenLanguage()
    assert spoken.choose(UNSURE_PL, 2.0) == "pl"  # nothing known yet: the best guess
    assert spoken.remembered is None  # a short clip teaches nothing
    assert spoken.choose(SURE_EN, CONFIDENT_S + 1) == "en"
    assert spoken.remembered == "en"
    assert spoken.choose(UNSURE_PL, 2.0) == "en"


def test_the_prior_stands_in_until_a_confident_detection():
    spoken = SpokenLanguage(prior="en")
    assert spoken.choose(UNSURE_PL, 2.0) == "en"
    assert spoken.remembered is None
    assert spoken.choose(SURE_FR, CONFIDENT_S) == "fr"  # another speaker, long and sure
    assert spoken.remembered == "fr"
    assert spoken.choose(UNSURE_PL, 1.0) == "fr"


def test_a_plainly_other_language_is_used_but_not_remembered():
    spoken = SpokenLanguage(prior="en")
    assert spoken.choose({"de": 0.99, "en": 0.001}, 1.5) == "de"
    assert spoken.remembered is None
    assert spoken.choose(UNSURE_PL, 1.5) == "en"


def test_long_but_unsure_speech_is_not_remembered():
    spoken = SpokenLanguage()
    spoken.choose({"en": CONFIDENT_P - 0.1, "de": 1.1 - CONFIDENT_P}, 20.0)
    assert spoken.remembered is None


def test_partial_decodes_learn_nothing():
    spoken = SpokenLanguage()
    assert spoken.choose(SURE_FR, 10.0, learn=False) == "fr"
    assert spoken.remembered is None


def test_a_prior_the_model_does_not_know_is_dropped():
    spoken = SpokenLanguage(prior="eu")
    spoken.use_prior({"en": 1, "fr": 2})
    assert spoken.choose(UNSURE_PL, 1.0) == "pl"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANGUAGE": "fr:en", "LANG": "de_DE.UTF-8"}, "fr"),
        ({"LC_ALL": "C", "LANG": "pt_BR.UTF-8"}, "pt"),
        ({"LANG": "C.UTF-8"}, None),
        ({}, None),
    ],
)
def test_desktop_language(monkeypatch, env, expected):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("locale.getlocale", lambda: (None, None))
    assert desktop_language() == expected


def test_the_learned_language_comes_before_the_desktop_one(tmp_path, monkeypatch):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    settings = Settings(tmp_path / "s.json")
    assert language_prior(settings) == "de"
    settings.set("stt_language_learned", "fr")
    assert language_prior(settings) == "fr"
    monkeypatch.setenv("LANG", "C")
    monkeypatch.setattr("locale.getlocale", lambda: (None, None))
    settings.set("stt_language_learned", "")
    assert language_prior(settings) == "en"  # the commands' language when nothing says
