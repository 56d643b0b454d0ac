"""Shared fixtures: an isolated home for every test, tiny models built once per session.

The suite never reads or writes the user's data, settings or caches, whatever the environment
says: before any test module is imported, every place the app, platformdirs, Qt, Hugging Face
and torch keep files is pointed into a folder of this run (removed at its end), and each test
gets its own app home inside its tmp_path. Undoing a test's monkeypatches (which undoes the
per-test home too) falls back to the run's folder, never to the user's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.c_stacks import CStacks

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REAL_MODELS_ENV = "DESKTOP_ASSISTANT_TEST_MODELS"
RUN_ROOT = Path(tempfile.mkdtemp(prefix="desktop-assistant-tests-")).resolve()
# What each variable becomes, under RUN_ROOT (HOME last: the others do not depend on it).
ISOLATED = {
    "DESKTOP_ASSISTANT_HOME": "app-home",
    "XDG_CONFIG_HOME": "user/.config",
    "XDG_DATA_HOME": "user/.local/share",
    "XDG_CACHE_HOME": "user/.cache",
    "XDG_STATE_HOME": "user/.local/state",
    "HF_HOME": "user/.cache/huggingface",
    "TORCH_HOME": "user/.cache/torch",
    "HOME": "user",
}
for _name, _where in ISOLATED.items():
    (RUN_ROOT / _where).mkdir(parents=True, exist_ok=True)
    os.environ[_name] = str(RUN_ROOT / _where)


_stderr_fd = 2  # the run's real stderr, kept before tests' output is captured


_c_stacks: CStacks | None = None


def pytest_configure(config) -> None:
    global _stderr_fd, _c_stacks
    _stderr_fd = os.dup(2)
    _c_stacks = CStacks(RUN_ROOT, _stderr_fd)


def pytest_unconfigure(config) -> None:
    if _c_stacks is not None:
        _c_stacks.stop()
    shutil.rmtree(RUN_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Settings and data of each test live in its own folder, never the user's."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESKTOP_ASSISTANT_HOME", str(home))
    return home


@pytest.fixture
def serve_hub(monkeypatch):
    """Start a fake Hugging Face hub (tests/fake_hub.py) with the given repos: each
    (repo id, folder) or (repo id, folder, add_repo keywords). With `point` (the default)
    this process's huggingface_hub talks to it, without a token, and downloads go in 16 kB
    chunks (several per weights file). Every hub started is stopped after the test."""
    from desktop_assistant.models import downloads
    from tests.fake_hub import FakeHub

    hubs = []

    def serve(*repos, point: bool = True):
        hub = FakeHub().start()
        hubs.append(hub)
        for repo_id, folder, *options in repos:
            hub.add_repo(repo_id, folder, **(options[0] if options else {}))
        if point:
            monkeypatch.setenv("HF_ENDPOINT", hub.url)
            monkeypatch.delenv("HF_TOKEN", raising=False)
            monkeypatch.setattr(downloads, "CHUNK", 16 * 1024)
        return hub

    yield serve
    for hub in hubs:
        hub.stop()


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def real_models_dir() -> Path:
    value = os.environ.get(REAL_MODELS_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{REAL_MODELS_ENV} does not point at the dev models folder")
    return Path(value)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="session")
def tiny_whisper_engine(tiny_whisper_dir):
    """The tiny Whisper loaded as the app loads one (English, one thread); tests must not
    change its settings (monkeypatch, which undoes itself, is fine)."""
    from desktop_assistant.inference.speech import WhisperEngine

    engine = WhisperEngine(tiny_whisper_dir, language="en", threads=1)
    engine.load()
    yield engine
    engine.unload()


# After a test's limit, for a test stuck where SIGALRM is never handled (shorter in
# tests/test_timeouts.py, which checks it).
BACKSTOP_S = float(os.environ.get("DESKTOP_ASSISTANT_TIMEOUT_BACKSTOP_S", "30"))
C_STACKS_BEFORE_S = 8  # gdb prints the C stacks this long before the backstop (c_stacks.py)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a venv without pytest-timeout still runs
def pytest_timeout_set_timer(item, settings):
    """pytest-timeout's signal method (the test fails with its traceback, the run goes on),
    backed by faulthandler BACKSTOP_S later: a test blocked in C code (a QThread.wait(), a
    lock) never returns to Python to handle the signal, and may hold the GIL so that no Python
    thread runs either. faulthandler's watchdog is a C thread: it prints every thread's
    Python stack (the test's frames name it) and ends the run."""
    import faulthandler
    import signal
    import threading

    import pytest_timeout

    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own handling

    def on_alarm(signum, frame):
        __tracebackhide__ = True
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        faulthandler.cancel_dump_traceback_later()
        if _c_stacks is not None:
            _c_stacks.disarm()

    item.cancel_timeout = cancel
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    faulthandler.dump_traceback_later(settings.timeout + BACKSTOP_S, exit=True, file=_stderr_fd)
    if _c_stacks is not None and BACKSTOP_S >= C_STACKS_BEFORE_S * 2:
        _c_stacks.arm(settings.timeout + BACKSTOP_S - C_STACKS_BEFORE_S)  # gdb takes a while
    return True
