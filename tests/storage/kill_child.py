"""A process to kill -9 in the middle of its work (see test_kill_trials.py).

    python -m tests.storage.kill_child import SOURCE
    python -m tests.storage.kill_child download MODEL_ID     (HF_ENDPOINT: the fake hub)
    python -m tests.storage.kill_child migrate DB

Each prints "started" when its work begins and "done" when it ended on its own; the data
folder is DESKTOP_ASSISTANT_HOME's, as in the app.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path


def main(what: str, target: str) -> None:
    from desktop_assistant.models.downloads import Download
    from desktop_assistant.models.importer import import_model
    from desktop_assistant.storage.history import History

    print("started", flush=True)  # imports done: the work itself begins now
    if what == "import":
        import_model(Path(target), lambda message, fraction: None, threading.Event())
    elif what == "download":
        Download(target, backoff=0.0).run()
    elif what == "migrate":
        History(Path(target)).close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
