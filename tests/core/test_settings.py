from __future__ import annotations

import json

import pytest

from desktop_assistant.core import paths
from desktop_assistant.core.settings import SCHEMA, Settings


def test_defaults_come_from_the_schema(tmp_path):
    settings = Settings(tmp_path / "s.json")
    for spec in SCHEMA:
        assert settings.get(spec.name) == spec.default
        assert spec.description


def test_values_persist_and_notify(tmp_path):
    path = tmp_path / "s.json"
    seen = []
    settings = Settings(path)
    settings.on_change(lambda name, value: seen.append((name, value)))
    settings.set("model_path", "/models/qwen")
    settings.set("temperature", 0)  # an int where a float is declared is accepted
    assert seen == [("model_path", "/models/qwen"), ("temperature", 0.0)]
    again = Settings(path)
    assert again.get("model_path") == "/models/qwen"
    assert again.get("temperature") == 0.0
    assert not path.with_suffix(".json.tmp").exists()


def test_wrong_types_are_refused_and_bad_files_fall_back(tmp_path):
    path = tmp_path / "s.json"
    settings = Settings(path)
    with pytest.raises(TypeError):
        settings.set("max_new_tokens", "many")
    path.write_text(json.dumps({"max_new_tokens": "many", "unknown_key": 1}))
    assert Settings(path).get("max_new_tokens") == 512
    path.write_text("{ not json")
    assert Settings(path).get("model_path") == ""


def test_paths_follow_the_home_variable(isolated_home):
    assert paths.settings_file().is_relative_to(isolated_home)
    assert paths.data_dir().is_relative_to(isolated_home)
    assert paths.cache_dir().is_relative_to(isolated_home)
    assert Settings().path == paths.settings_file()


def test_values_out_of_their_range_or_choices_fall_back(tmp_path):
    """A hand-edited file with "top_p": 0 broke every send, and a system prompt that was not
    text stopped the window from opening (issue 18)."""
    import json

    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "top_p": 0,
                "max_new_tokens": 10**9,
                "precision": "int3",
                "temperature": float("nan"),
                "system_prompts": {"Fine": "Be brief.", "Bad": 42},
                "system_prompt": 7,
                "vad_silence_s": 0.5,
            }
        )
    )
    settings = Settings(path)
    assert settings.get("top_p") == 0.9
    assert settings.get("max_new_tokens") == 512
    assert settings.get("precision") == "auto"
    assert settings.get("temperature") == 0.7
    assert settings.get("system_prompts") == {"Fine": "Be brief."}
    assert settings.get("system_prompt") == "None"
    assert settings.get("vad_silence_s") == 0.5  # in range: kept
    with pytest.raises(ValueError, match="top_p"):
        settings.set("top_p", 0.0)
    with pytest.raises(ValueError, match="precision"):
        settings.set("precision", "int3")
