"""The catalogue of bad and odd inputs (tests/data/bad, made by make_bad_inputs.py) through the
command line: each is used or refused in one clear line, never a traceback or a hang
(issue 18, the whole surface). The same inputs go through the window in
tests/ui/test_bad_inputs_window.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_assistant import cli

BAD = Path(__file__).parent / "data" / "bad"
CATALOGUE = json.loads((BAD / "catalogue.json").read_text())
PROMPTS = json.loads((BAD / "prompts.json").read_text())


def prompt_text(name: str) -> str:
    recipe = PROMPTS[name]
    return str(recipe["text"]) * int(recipe.get("times", 1))


def model_path(name: str) -> Path:
    path = BAD / "models" / name
    if name == "empty-folder":
        path.mkdir(exist_ok=True)  # git keeps no empty folder
    return path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, err: str, name: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (name, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
    assert "Traceback" not in err


def test_the_catalogue_is_big_enough_and_current():
    assert sum(len(v) for v in CATALOGUE.values()) >= 40
    assert set(PROMPTS) == set(CATALOGUE["prompts"])


@pytest.mark.parametrize("name", sorted(CATALOGUE["pictures"]))
def test_pictures(capsys, tiny_vlm_dir, name):
    path = BAD / "pictures" / name
    code, out, err = _run(
        capsys,
        "ask",
        "--model",
        str(tiny_vlm_dir),
        "--image",
        str(path),
        "--max-new-tokens",
        "2",
        "What is this?",
    )
    if CATALOGUE["pictures"][name] == "read":
        assert code == 0 and "Traceback" not in err, (name, err)
    else:
        _refused(code, err, name)
        assert name in err  # says which file


@pytest.mark.parametrize("name", sorted(CATALOGUE["audio"]))
def test_audio(capsys, tiny_whisper_dir, name):
    path = BAD / "audio" / name
    code, out, err = _run(capsys, "transcribe", "--model", str(tiny_whisper_dir), str(path))
    if CATALOGUE["audio"][name] == "read":
        assert code == 0 and "Traceback" not in err, (name, err)
    else:
        _refused(code, err, name)


@pytest.mark.parametrize("name", sorted(CATALOGUE["prompts"]))
def test_prompts(capsys, tiny_chat_dir, name):
    code, out, err = _run(
        capsys, "ask", "--model", str(tiny_chat_dir), "--max-new-tokens", "4", prompt_text(name)
    )
    if CATALOGUE["prompts"][name] == "answer":
        assert code == 0 and out.endswith("\n"), (name, err)
    else:  # too long for the model, or nothing to ask
        _refused(code, err, name)


@pytest.mark.parametrize("name", sorted(CATALOGUE["models"]))
def test_models(capsys, name):
    code, out, err = _run(capsys, "ask", "--model", str(model_path(name)), "Hi")
    _refused(code, err, name)
    assert "remote code ran" not in out + err  # auto_map's code is never run


@pytest.mark.parametrize("name", sorted(CATALOGUE["histories"]))
def test_histories_through_doctor(capsys, name):
    from desktop_assistant.core import paths

    paths.data_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(BAD / "histories" / name, paths.history_file())
    code, out, err = _run(capsys, "doctor")
    [line] = [line for line in out.splitlines() if " history " in f" {line} "]
    assert code == 1 and line.startswith("fail") and "Traceback" not in out + err


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_few_as_a_new_process(tiny_chat_dir, tmp_path):
    """The same as a user runs them, each in a new Python: one error line, exit 2."""
    cases = [
        (("ask", "--model", str(model_path("auto-map")), "Hi"), None),
        (
            (
                "ask",
                "--model",
                str(tiny_chat_dir),
                "--image",
                str(BAD / "pictures" / "bomb-30000x30000.png"),
                "Hi",
            ),
            None,
        ),
        (
            ("transcribe", "--model", str(tiny_chat_dir), str(BAD / "audio" / "text-named.wav")),
            None,
        ),
        (("ask", "--model", str(tiny_chat_dir), "-"), prompt_text("long-200000")),  # on stdin
    ]
    for args, stdin in cases:
        result = subprocess.run(
            [sys.executable, "-m", "desktop_assistant", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (args[:3], result.stderr)
        assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
