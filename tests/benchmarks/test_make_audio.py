"""The paraphrase audio generator (benchmarks/intents/make_audio.py) writes clips that the
speech evaluation reads: both halves, their manifests, the conditions it promises."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "intents" / "make_audio.py"

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _module():
    spec = importlib.util.spec_from_file_location("make_audio", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clips_and_manifests(tmp_path):
    sayings = tmp_path / "sayings.json"
    sayings.write_text(
        json.dumps(
            {
                "commands": {
                    "stop": ["stop", "halt", "stop talking"],
                    "set_theme": [{"text": "dark mode", "slots": {"theme": "dark"}}],
                },
                "dictation": ["what time is it", "tell me a joke"],
            }
        )
    )
    make_audio = _module()
    assert make_audio.main(str(tmp_path / "out"), sayings) == 0
    tune = [json.loads(x) for x in (tmp_path / "out" / "manifest-tune.jsonl").open()]
    held = [json.loads(x) for x in (tmp_path / "out" / "manifest-held-out.jsonl").open()]
    assert [e["text"] for e in tune] == ["stop", "stop talking", "dark mode", "what time is it"]
    assert [e["text"] for e in held] == ["halt", "tell me a joke"]
    assert not {e["voice"] for e in tune} & {e["voice"] for e in held}  # unheard voices
    assert held[1]["intent"] is None and held[1]["kind"] == "dictation"
    assert tune[2]["slots"] == {"theme": "dark"}
    for entry in tune + held:
        info = sf.info(tmp_path / "out" / entry["file"])
        assert info.samplerate == entry["rate"] and info.channels == entry["channels"]
        assert abs(info.duration - entry["seconds"]) < 0.01
    assert {e["channels"] for e in tune} == {1, 2}
    assert len({e["rate"] for e in tune}) == 3
