"""One app per data folder: a second start hands over to the first and exits (issue 18, 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from desktop_assistant.ui.single_instance import LOCK_NAME, SingleInstance, socket_name


def test_second_claim_fails_and_asks_the_first_for_its_window(qtbot, tmp_path):
    first = SingleInstance(tmp_path / "data")
    assert first.claim()
    second = SingleInstance(tmp_path / "data")
    with qtbot.waitSignal(first.activate_requested, timeout=3000):
        assert not second.claim()
    first.release()


def test_after_release_the_next_start_is_the_app(qtbot, tmp_path):
    first = SingleInstance(tmp_path)
    assert first.claim()
    first.release()
    again = SingleInstance(tmp_path)
    assert again.claim()
    again.release()


def test_other_data_folders_are_other_apps(tmp_path):
    one, two = SingleInstance(tmp_path / "one"), SingleInstance(tmp_path / "two")
    assert one.name != two.name
    assert one.claim() and two.claim()
    one.release()
    two.release()


def test_a_lock_left_by_a_killed_app_does_not_block_the_next_start(qtbot, tmp_path):
    """The app that held the lock was killed (-9 leaves the file): the next start takes over,
    and its socket is reachable even though the dead one's socket name was never removed."""
    code = (
        "import os, sys\n"
        "from PySide6.QtCore import QLockFile\n"
        f"lock = QLockFile({str(tmp_path / LOCK_NAME)!r})\n"
        "assert lock.tryLock(0)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (tmp_path / LOCK_NAME).exists()
    app = SingleInstance(tmp_path)
    assert app.claim()
    with qtbot.waitSignal(app.activate_requested, timeout=3000):
        assert not SingleInstance(tmp_path).claim()
    app.release()


def test_names_are_short_enough_for_a_unix_socket(tmp_path):
    deep = tmp_path.joinpath(*["folder-with-a-long-name"] * 12)
    name = socket_name(deep)
    assert len(name) < 40 and name == socket_name(deep)


def test_an_unwritable_data_folder_lets_the_app_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert SingleInstance(blocker / "data").claim()  # the app still starts (and says why not)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_second_app_start_brings_the_first_forward_and_exits(tmp_path):
    """Two real app processes on one data folder: the second exits at once with a message,
    before opening the history, and the first (still running) logs the request."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DESKTOP_ASSISTANT_HOME=str(tmp_path))
    command = [sys.executable, "-m", "desktop_assistant", "--model", str(tmp_path / "none")]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "data" / LOCK_NAME).exists():
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() < deadline, "the first app never took the lock"
            time.sleep(0.2)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first app is untouched
        deadline = time.monotonic() + 20
        while "another start asked for the window" not in _logged(tmp_path):
            assert time.monotonic() < deadline, _logged(tmp_path)
            time.sleep(0.2)
    finally:
        first.terminate()
        first.wait(timeout=30)


def _logged(home) -> str:
    return "".join(p.read_text() for p in home.rglob("*.log"))
