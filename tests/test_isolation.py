"""The suite keeps out of the user's folders, whatever the environment says (see conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from platformdirs import PlatformDirs

from desktop_assistant import APP_NAME
from desktop_assistant.core import paths
from tests.conftest import ISOLATED, RUN_ROOT
from tests.subprocess_pytest import output_tail, run_pytest


def _app_paths() -> list[Path]:
    return [
        paths.config_dir(),
        paths.data_dir(),
        paths.cache_dir(),
        paths.settings_file(),
        paths.history_file(),
        paths.models_dir(),
        paths.attachments_dir(),
        paths.log_file(),
    ]


def test_every_path_of_a_test_is_in_its_own_tmp(tmp_path):
    for path in _app_paths():
        assert path.is_relative_to(tmp_path), path


def test_without_the_app_home_paths_stay_in_the_runs_folder(monkeypatch):
    """platformdirs' own folders (what a user without DESKTOP_ASSISTANT_HOME gets), and
    what a test sees after undoing its monkeypatches, are in the run's folder."""
    monkeypatch.delenv(paths.HOME_ENV)
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    for path in _app_paths() + [Path(dirs.user_config_dir), Path(dirs.user_cache_dir)]:
        assert path.resolve().is_relative_to(RUN_ROOT), path
    assert Path.home().resolve().is_relative_to(RUN_ROOT)
    monkeypatch.undo()
    for path in _app_paths():
        assert path.resolve().is_relative_to(RUN_ROOT), path
    for name in ISOLATED:
        assert Path(os.environ[name]).resolve().is_relative_to(RUN_ROOT), name


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_run_leaves_the_users_folders_as_they_were(tmp_path):
    """Tests that install, download, quantize, save settings and write history, run with the
    user's environment pointing at real folders: nothing in those folders changes."""
    user = tmp_path / "user"
    env = {**os.environ}
    for name in ISOLATED:
        folder = user / name.lower()
        folder.mkdir(parents=True)
        (folder / "mine.txt").write_text("the user's file")
        env[name] = str(folder)
    before = _snapshot(user)
    tests = [
        "tests/models/test_downloads.py::test_disk_full_while_writing_keeps_what_was_written",
        "tests/test_cli_models.py::test_import_list_default_ask_and_remove",
        "tests/inference/test_quantize.py::test_quantized_model_is_cached_and_reloaded",
        "tests/ui/test_main_window.py",
    ]
    result = run_pytest(*tests, env=env, timeout=400)
    assert result.returncode == 0, output_tail(result)
    assert _snapshot(user) == before
