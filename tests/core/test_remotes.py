"""Remote servers in the settings, their keys in the keyring and nowhere else (issue 21)."""

from __future__ import annotations

import pytest

from desktop_assistant.core import remotes
from desktop_assistant.core.errors import UserError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.core.settings import Settings
from tests.fakes import MemoryKeyring


@pytest.fixture
def keys(monkeypatch):
    ring = MemoryKeyring()
    monkeypatch.setattr(remotes, "_keyring", lambda: ring)
    return ring


@pytest.mark.parametrize(
    "typed, url",
    [
        ("gpu-box:8000", "http://gpu-box:8000/v1"),
        ("http://gpu-box:8000", "http://gpu-box:8000/v1"),
        ("http://gpu-box:8000/v1/", "http://gpu-box:8000/v1"),
        ("https://llm.example.org/openai/v1", "https://llm.example.org/openai/v1"),
        ("  http://[::1]:11434 ", "http://[::1]:11434/v1"),
        ("localhost:11434", "http://localhost:11434/v1"),
    ],
)
def test_the_address_is_read_as_people_type_it(typed, url):
    assert remotes.base_url(typed) == url


@pytest.mark.parametrize("typed", ["", "ftp://gpu-box/", "http://", "http://gpu-box:99999"])
def test_a_bad_address_says_so(typed):
    with pytest.raises(UserError):
        remotes.base_url(typed)


def test_remotes_are_kept_in_order_and_keys_only_in_the_keyring(tmp_path, keys):
    settings = Settings(tmp_path / "settings.json")
    remotes.save_remote(settings, Remote("office", "http://gpu-box:8000/v1", "llama-70b"))
    remotes.save_remote(settings, Remote("home", "http://127.0.0.1:11434/v1"))
    remotes.set_api_key("office", "sk-secret-1")
    assert [r.name for r in remotes.list_remotes(settings)] == ["office", "home"]
    assert remotes.find_remote(settings, "office").model == "llama-70b"
    assert remotes.get_api_key("office") == "sk-secret-1" and remotes.get_api_key("home") == ""
    assert "sk-secret" not in settings.path.read_text()
    # renamed in place: its key goes with it
    remotes.save_remote(settings, Remote("work", "http://gpu-box:8000/v1", "llama-8b"), "office")
    assert [r.name for r in remotes.list_remotes(settings)] == ["work", "home"]
    assert remotes.get_api_key("work") == "sk-secret-1" and remotes.get_api_key("office") == ""
    remotes.delete_remote(settings, "work")
    assert [r.name for r in remotes.list_remotes(settings)] == ["home"]
    assert keys.passwords == {}
    with pytest.raises(UserError, match="no remote server is called 'work'"):
        remotes.find_remote(settings, "work")
    assert Remote("home", "http://x/v1").path == "remote:home"
    assert remotes.remote_name("remote:home") == "home" and remotes.remote_name("/models/m") is None


def test_a_hand_edited_list_keeps_what_it_can(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    settings.set("remotes", [
        {"name": "ok", "base_url": "gpu:8000", "timeout_s": -3, "model": 7},
        {"name": "", "base_url": "http://x"},
        {"base_url": "http://x"},
        "not a remote",
        {"name": "bad", "base_url": "ftp://x"},
    ])  # fmt: skip
    (only,) = remotes.list_remotes(settings)
    assert only == Remote("ok", "http://gpu:8000/v1", "", remotes.DEFAULT_TIMEOUT_S)


def test_without_a_keyring_a_key_cannot_be_kept_and_that_is_said(monkeypatch):
    ring = MemoryKeyring(broken=True)
    monkeypatch.setattr(remotes, "_keyring", lambda: ring)
    with pytest.raises(UserError, match="no keyring") as caught:
        remotes.set_api_key("office", "sk-1")
    assert remotes.KEY_VARIABLE in str(caught.value)
    assert remotes.get_api_key("office") == ""  # reading fails quietly: no key
    remotes.delete_api_key("office")  # nothing to remove: no error
