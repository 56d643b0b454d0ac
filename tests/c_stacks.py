"""Every thread's C stack (gdb) for a run stuck where Python cannot see: a test blocked in
Qt's event loop, a QThread.wait() or a mutex shows only its Python caller in faulthandler's
dump (conftest.py's backstop), not what it waits for.

A watchdog process, not a thread: a stuck main thread may hold the GIL. conftest.py writes
each test's deadline (shortly before the backstop ends the run) to a file; past it, the
watchdog attaches gdb to the run and writes the stacks to the run's stderr, once. Without
gdb (apt: gdb) nothing is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

WATCHDOG = r"""
import os, subprocess, sys, time
run, path, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
while os.getppid() == run:  # the run gone (a zombie still answers kill 0): end too
    try:
        deadline = float(open(path).read() or 0)
    except (OSError, ValueError):
        deadline = 0
    if deadline and time.time() > deadline:
        open(path, "w").write("0")
        try:
            done = subprocess.run(
                ["gdb", "-p", str(run), "-batch", "-ex", "info threads",
                 "-ex", "thread apply all bt 40"],
                capture_output=True, text=True, timeout=60,
            )
            text = done.stdout[-30000:] + done.stderr[-2000:]
        except Exception as err:
            text = f"gdb failed: {err}"
        os.write(out, ("\n===== C stacks of the stuck run (gdb) =====\n" + text + "\n").encode())
    time.sleep(0.3)
"""


class CStacks:
    """The watchdog of this run; `arm(seconds)` before a test, `disarm()` after it."""

    def __init__(self, folder: Path, stderr_fd: int) -> None:
        self.path = folder / "c-stacks-deadline"
        self.path.write_text("0")
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("gdb") is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(self.path), str(stderr_fd)],
                pass_fds=(stderr_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # holding the run's own pipes open would keep
                stderr=subprocess.DEVNULL,  # a caller reading them waiting after it ended
            )

    def arm(self, seconds: float) -> None:
        if self.process is not None:
            self.path.write_text(str(time.time() + seconds))

    def disarm(self) -> None:
        if self.process is not None:
            self.path.write_text("0")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
