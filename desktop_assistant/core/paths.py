"""Every path on disk the app uses, in one place.

Data and settings live under platformdirs' per-user folders, or all under
`$DESKTOP_ASSISTANT_HOME` when it is set (tests and portable installs).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from platformdirs import PlatformDirs

from desktop_assistant import APP_NAME

HOME_ENV = "DESKTOP_ASSISTANT_HOME"


def _dirs() -> PlatformDirs:
    return PlatformDirs(APP_NAME, appauthor=False)


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Where settings.json lives."""
    home = _home()
    return home / "config" if home else Path(_dirs().user_config_dir)


def data_dir() -> Path:
    """Where conversations, attachments and models live."""
    home = _home()
    return home / "data" if home else Path(_dirs().user_data_dir)


def cache_dir() -> Path:
    """Where derived files (quantized weights) live; safe to delete."""
    home = _home()
    return home / "cache" if home else Path(_dirs().user_cache_dir)


def settings_file() -> Path:
    return config_dir() / "settings.json"


def history_file() -> Path:
    return data_dir() / "history.sqlite3"


def models_dir() -> Path:
    """Where installed models live, one folder each (see models/registry.py)."""
    return data_dir() / "models"


def attachments_dir() -> Path:
    """Where attached files are kept, named by content (see storage/attachments.py)."""
    return data_dir() / "attachments"


def log_file() -> Path:
    return data_dir() / "logs" / "desktop-assistant.log"


def file_sha256(path: Path, block: int = 4 << 20) -> str:
    """The hex SHA-256 of a file's bytes, read a block at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def same_folder(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same place (`~`, `..` and links resolved); "" is none."""
    if not str(a) or not str(b):
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


def assets_dir() -> Path | None:
    """The app's icons: in a bundle (PyInstaller's folder), in a source checkout (`assets/`
    beside the package), or where a wheel puts them (`<prefix>/share/desktop-assistant`).
    None when none is there (the window then goes without)."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "assets")
    candidates.append(Path(__file__).resolve().parents[2] / "assets")
    candidates.append(Path(sys.prefix) / "share" / "desktop-assistant" / "assets")
    return next((c for c in candidates if (c / "desktop-assistant.svg").is_file()), None)


def make_private() -> None:
    """Conversations, pictures, settings and logs are the user's alone: files the app makes
    from now on are owner-only (umask 077: folders 700, files 600), and the app's folders and
    its history, settings and log files from before are set so. Files the user exports where
    they choose are theirs to share, and get the same owner-only mode. No-op on Windows, where
    the per-user folders are private already."""
    if os.name != "posix":
        return
    os.umask(0o077)
    for folder in (config_dir(), data_dir(), cache_dir(), log_file().parent):
        _chmod(folder, 0o700)
    history = history_file()
    for file in (settings_file(), log_file(), history, *history.parent.glob(history.name + "-*")):
        _chmod(file, 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        if path.exists() and (path.stat().st_mode & 0o777) & ~mode:
            path.chmod(mode)
    except OSError:  # someone else's file (a shared HOME): leave it, the app still runs
        pass
