"""kill -9 at varied moments: nothing committed is lost, the file stays sound, and the answer
that was streaming is marked interrupted on the next start."""

from __future__ import annotations

import random
import select
import signal
import subprocess
import sys

import pytest

from desktop_assistant.storage.history import History
from tests.storage.crash_child import TOKENS

FULL_ANSWER = "".join(TOKENS)


@pytest.mark.slow
@pytest.mark.timeout(600)  # 50 processes killed at random moments: about 55 s here
def test_sigkill_never_loses_a_committed_message(tmp_path):
    rng = random.Random(20261123)
    db = tmp_path / "history.sqlite3"
    saved: list[str] = []
    for trial in range(50):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.crash_child", str(db), str(trial)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        events = rng.randint(1, 40)  # kill after this many storage events
        for _ in range(events):
            ready, _, _ = select.select([child.stdout], [], [], 30)
            if not ready:
                child.kill()
                raise AssertionError(f"trial {trial}: the app stopped making progress")
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"trial {trial}: the app exited on its own")
            if line.startswith("saved "):
                saved.append(line[len("saved ") :].rstrip("\n"))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

        history = History(db)  # what the next start does
        assert history.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", trial
        history.mark_interrupted()
        users, streaming = [], 0
        for conversation in history.list_conversations():
            for message in history.messages(conversation.id):
                if message.role == "user":
                    users.append(message.content)
                else:
                    assert FULL_ANSWER.startswith(message.content), trial
                    assert message.state in ("complete", "interrupted"), trial
                    streaming += message.state == "interrupted"
        assert set(saved) <= set(users), f"trial {trial}: lost {set(saved) - set(users)}"
        assert streaming <= trial + 1
        interrupted = streaming
        history.close()
    assert len(saved) >= 50
    assert interrupted >= 3  # kills did land mid-answer, and those answers were kept
