"""Remote servers the user listed: an OpenAI-compatible endpoint on a bigger machine (vLLM,
llama.cpp's server, Ollama) used as a chat engine (issue 21).

A remote is kept in the settings (`remotes`: name, base URL, model, timeout, and optionally a
speech model for its `/v1/audio/transcriptions`), its API key in
the system keyring (`keyring`: the Secret Service on Linux, the Keychain on macOS, the
Credential Manager on Windows), never in the settings file or a log. The chat model setting
names a remote as "remote:NAME", so everything that loads a model by its path (the window's
chat thread, `ask --model`) takes one too; so does the speech model setting, for a remote
with a speech model.

While the app is offline, a remote's host is the only place off this machine it may reach
(`core.offline.allow_host`): listing the server is the user's explicit consent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from desktop_assistant.core.errors import UserError

log = logging.getLogger(__name__)
PREFIX = "remote:"
KEYRING_SERVICE = "desktop-assistant"
KEY_VARIABLE = "DESKTOP_ASSISTANT_API_KEY"  # the key for `ask --remote` (never an argument)
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Remote:
    name: str
    base_url: str  # ends in /v1: http://gpu-box:8000/v1
    model: str = ""  # "" = the first model the server lists
    timeout_s: float = DEFAULT_TIMEOUT_S  # to connect, and between two pieces of an answer
    speech_model: str = ""  # for /v1/audio/transcriptions when picked for speech ("": none)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def path(self) -> str:
        """What the chat model setting holds to use this remote."""
        return PREFIX + self.name

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Remote | None:
        """A remote from the settings file; None for an entry that is not one."""
        if not isinstance(raw, dict):
            return None
        name, url = raw.get("name"), raw.get("base_url")
        if not isinstance(name, str) or not isinstance(url, str) or not name or not url:
            return None
        model = raw.get("model")
        model = model if isinstance(model, str) else ""
        timeout = raw.get("timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            timeout = DEFAULT_TIMEOUT_S
        speech = raw.get("speech_model")
        speech = speech if isinstance(speech, str) else ""
        try:
            url = base_url(url)
        except UserError:
            return None
        return cls(name, url, model, float(timeout), speech)


def base_url(text: str) -> str:
    """The server's OpenAI-compatible base URL from what the user typed: "gpu-box:8000",
    "http://gpu-box:8000" and "http://gpu-box:8000/v1/" all give "http://gpu-box:8000/v1"
    (vLLM, llama.cpp's server and Ollama all serve the API under /v1)."""
    text = text.strip()
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{text!r} is not a server address (http://host:port)")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as err:
        raise UserError(f"{text!r} has a bad port number") from err
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def remote_name(path: str) -> str | None:
    """The remote a chat model setting names ("remote:office" -> "office"), else None."""
    return path[len(PREFIX) :] if path.startswith(PREFIX) else None


def list_remotes(settings: Any) -> list[Remote]:
    found = (Remote.from_dict(raw) for raw in settings.get("remotes"))
    return [r for r in found if r is not None]


def find_remote(settings: Any, name: str) -> Remote:
    for remote in list_remotes(settings):
        if remote.name == name:
            return remote
    raise UserError(f"no remote server is called {name!r} (Settings → Remote servers)")


def save_remote(settings: Any, remote: Remote, replaces: str = "") -> None:
    """Add `remote`, or put it in the place of the one called `replaces` (or of its own
    name): the list keeps its order."""
    kept, placed = [], False
    for old in list_remotes(settings):
        if old.name in (replaces or remote.name, remote.name):
            if not placed:
                kept.append(remote.as_dict())
                placed = True
            continue
        kept.append(old.as_dict())
    if not placed:
        kept.append(remote.as_dict())
    settings.set("remotes", kept)
    if replaces and replaces != remote.name:
        key = get_api_key(replaces)
        if key:
            set_api_key(remote.name, key)
        delete_api_key(replaces)


def delete_remote(settings: Any, name: str) -> None:
    settings.set("remotes", [r.as_dict() for r in list_remotes(settings) if r.name != name])
    delete_api_key(name)


def allow_remote_hosts(settings: Any) -> None:
    """Let the offline guard through to the listed servers, and only them."""
    from desktop_assistant.core import offline

    offline.forget_hosts()
    for remote in list_remotes(settings):
        offline.allow_host(remote.host)


# API keys, in the system keyring


def _keyring() -> Any:
    import keyring

    return keyring


def get_api_key(name: str) -> str:
    """The key stored for the remote called `name` ("" when none is, or no keyring works
    here: the server may not need one)."""
    try:
        return _keyring().get_password(KEYRING_SERVICE, name) or ""
    except Exception as err:  # no backend, a locked or broken one: no key
        log.warning("cannot read the API key of %s from the keyring: %s", name, type(err).__name__)
        return ""


def set_api_key(name: str, key: str) -> None:
    """Store (or with "", remove) the key of the remote called `name`; `UserError` when
    this system has no keyring to keep it in."""
    if not key:
        delete_api_key(name)
        return
    try:
        _keyring().set_password(KEYRING_SERVICE, name, key)
    except Exception as err:
        raise UserError(
            "this system has no keyring to keep the API key in (on Linux: GNOME Keyring or "
            f"KWallet, running). For the command line, set {KEY_VARIABLE} instead. "
            f"({type(err).__name__})"
        ) from err


def delete_api_key(name: str) -> None:
    with contextlib.suppress(Exception):  # none was stored, or no keyring: nothing to remove
        _keyring().delete_password(KEYRING_SERVICE, name)


def key_from_environment() -> str:
    return os.environ.get(KEY_VARIABLE, "")
