"""Every path on disk the app uses, in one place.

Data and settings live under platformdirs' per-user folders, or all under
`$DESKTOP_ASSISTANT_HOME` when it is set (tests and portable installs).
"""

from __future__ import annotations

import os
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
    """Where installed models live, one folder each (see inference/models.py)."""
    return data_dir() / "models"


def attachments_dir() -> Path:
    """Where attached files are kept, named by content (see storage/attachments.py)."""
    return data_dir() / "attachments"


def log_file() -> Path:
    return data_dir() / "logs" / "desktop-assistant.log"
