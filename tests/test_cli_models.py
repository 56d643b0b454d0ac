"""`desktop-assistant models …` run as a user runs it (a subprocess), with a fake hub."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import assert_one_error_line, run

pytestmark = pytest.mark.slow  # each test starts the app as a user does (a new Python)


@pytest.fixture
def fake_hub(serve_hub, tiny_whisper_dir, tiny_chat_dir):
    return serve_hub(  # the app runs in its own process: told where the hub is by the test
        ("openai/whisper-tiny", tiny_whisper_dir),
        ("meta-llama/Llama-3.2-1B-Instruct", tiny_chat_dir, {"gated": True}),
        point=False,
    )


def test_import_list_default_ask_and_remove(tiny_chat_dir):
    result = run("models", "import", str(tiny_chat_dir))
    assert result.returncode == 0, result.stderr
    assert "installed" in result.stdout and "now the default" in result.stdout
    listing = json.loads(run("models", "list", "--json").stdout)
    (model,) = listing["installed"]
    assert model["role"] == "chat" and model["default"] and model["source"] == "import"
    assert len(listing["available"]) == 13 and listing["free_disk"] > 0
    assert {"ram", "disk", "download_bytes", "min_ram"} <= set(listing["available"][0])
    answer = run("ask", "--model", model["id"], "--max-new-tokens", "3", "Hi")
    assert answer.returncode == 0, answer.stderr
    wrong = run("models", "default", "speech", model["id"])
    assert_one_error_line(wrong, 2, "cannot be the speech model")
    removed = run("models", "remove", model["id"])
    assert removed.returncode == 0 and "freed" in removed.stdout
    assert_one_error_line(run("models", "remove", model["id"]), 2, "not installed")


def test_download_gated_offline_and_not_installed(fake_hub):
    env = {"HF_ENDPOINT": fake_hub.url, "HF_TOKEN": ""}
    result = run("models", "download", "openai/whisper-tiny", env=env)
    assert result.returncode == 0, result.stderr
    assert "openai/whisper-tiny installed" in result.stdout and "now the default" in result.stdout
    gated = run("models", "download", "meta-llama/Llama-3.2-1B-Instruct", env=env)
    assert_one_error_line(gated, 2, "gated", "HF_TOKEN")
    offline = run(
        "models", "download", "openai/whisper-base", env={"HF_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert_one_error_line(offline, 1, "cannot reach")
    missing = run("transcribe", "--model", "openai/whisper-small", "x.wav")
    assert_one_error_line(missing, 2, "models download openai/whisper-small")
