"""kill -9 during a model import, a download and a schema migration (issue 18): what was
there before is intact, nothing half-made is taken for finished, and doing it again works."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest

from desktop_assistant.models import downloads, registry
from desktop_assistant.storage.database import SCHEMA_VERSION, connect, migrate
from desktop_assistant.storage.history import History
from tests.fake_hub import FakeHub

pytestmark = [pytest.mark.slow]
SPEECH_ID = "openai/whisper-tiny"


def _kill_at_random(args, env, rng, longest_s):
    """Start the child, kill -9 it a random moment after it began its work; True when it
    finished before the kill."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.kill_child", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 60)
    assert ready and child.stdout.readline().startswith("started")
    time.sleep(rng.uniform(0, longest_s))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return child.stdout.read().startswith("done")


def _installed_ok(model_id=None):
    """Every model the app lists is whole: its manifest's files are there, at their size."""
    from desktop_assistant.cli.doctor import _model_problem

    found = registry.list_installed()
    for model in found:
        assert _model_problem(model.path, verify=True) == "", model.id
    return [m for m in found if model_id is None or m.id == model_id]


@pytest.mark.timeout(600)
def test_kill_during_model_imports(tmp_path, tiny_chat_dir):
    rng = random.Random(18_20)
    env = {"DESKTOP_ASSISTANT_HOME": os.environ["DESKTOP_ASSISTANT_HOME"]}
    finished = 0
    for _trial in range(10):
        if _kill_at_random(["import", str(tiny_chat_dir)], env, rng, 1.0):
            finished += 1
            for model in registry.list_installed():
                registry.remove(model.id)  # so that the next trial imports again
        assert _installed_ok() == []  # never a half model in the list
    import threading

    from desktop_assistant.models.importer import import_model

    imported = import_model(tiny_chat_dir, lambda m, f: None, threading.Event())
    assert _installed_ok(imported.id) and finished < 7  # most kills landed mid-import


@pytest.mark.timeout(600)
def test_kill_during_downloads(tmp_path, tiny_whisper_dir, monkeypatch):
    hub = FakeHub().start()
    hub.add_repo(SPEECH_ID, tiny_whisper_dir)
    hub.piece_delay = 0.002
    rng = random.Random(18_21)
    env = {
        "DESKTOP_ASSISTANT_HOME": os.environ["DESKTOP_ASSISTANT_HOME"],
        "HF_ENDPOINT": hub.url,
    }
    try:
        finished = 0
        for _trial in range(10):
            if _kill_at_random(["download", SPEECH_ID], env, rng, 2.0):
                finished += 1
                registry.remove(SPEECH_ID)  # so that the next trial downloads again
            assert _installed_ok() == []  # a killed download is never listed
        assert finished < 7  # most kills landed mid-download
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        model = downloads.Download(SPEECH_ID, backoff=0.0).run()  # resumes what was fetched
        assert _installed_ok(SPEECH_ID) and model.id == SPEECH_ID
    finally:
        hub.stop()


def _big_old_database(path, version, conversations=600):
    db = connect(path)
    migrate(db, upto=version)
    with db:
        db.execute("BEGIN")
        for c in range(1, conversations + 1):
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, 1, 2)",
                (c, f"chat {c}"),
            )
            db.executemany(
                "INSERT INTO messages (conversation_id, role, content, state, created_at, "
                "updated_at) VALUES (?, ?, ?, 'complete', 1, 1)",
                [
                    (c, "user" if m % 2 == 0 else "assistant", f"penguin {c} {m} " * 40)
                    for m in range(10)
                ],
            )
        db.execute("COMMIT")
    db.close()


@pytest.mark.timeout(600)
def test_kill_during_schema_migrations(tmp_path):
    rng = random.Random(18_22)
    finished = 0
    for trial in range(10):
        path = tmp_path / f"old-{trial}.sqlite3"
        version = 1 + trial % (SCHEMA_VERSION - 1)
        _big_old_database(path, version)
        timed = tmp_path / "timed.sqlite3"  # how long this migration takes, to kill within it
        timed.write_bytes(path.read_bytes())
        started = time.perf_counter()
        History(timed).close()
        took = time.perf_counter() - started
        for leftover in tmp_path.glob("timed.sqlite3*"):
            leftover.unlink()
        finished += _kill_at_random(["migrate", str(path)], {}, rng, took)
        history = History(path)  # the next start finishes what was begun
        assert history.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert history.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6000
        assert len(history.search("penguin")) > 0
        history.close()
    assert finished < 7  # most kills landed mid-migration
