"""Running some of the suite's own tests in a new pytest process, from the repository root
(for what one process cannot show: an environment set before start, a run that hangs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(*targets: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output_tail(result: subprocess.CompletedProcess) -> str:
    """The end of what a failed run printed, for an assertion message. A run that hung ends
    with faulthandler's dump of every thread (tests/conftest.py's backstop), the main
    thread last: its innermost frames, which name the test and where it waits, are 5-10 kB
    before the end, so that much is kept."""
    return result.stdout[-3000:] + result.stderr[-12000:]
