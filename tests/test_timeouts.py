"""A hanging test fails by itself within its limit, named, with a traceback (conftest.py).

The hanging tests below run only inside the checking tests' own pytest process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.subprocess_pytest import run_pytest

HANG = "DESKTOP_ASSISTANT_HANG_TESTS"
hangs = pytest.mark.skipif(not os.environ.get(HANG), reason="run by the tests below only")


@hangs
@pytest.mark.timeout(2)
def test_hangs_in_python():
    time.sleep(600)


@hangs
def test_runs_after_the_hang():
    assert True


@hangs
@pytest.mark.timeout(2)
def test_hangs_where_no_signal_is_handled():
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # as if stuck in C code
    time.sleep(600)


def _run(*names: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, HANG: "1", "DESKTOP_ASSISTANT_TIMEOUT_BACKSTOP_S": "1"}
    start = time.monotonic()
    result = run_pytest(*[f"{__file__}::{name}" for name in names], env=env, timeout=120)
    return result, time.monotonic() - start


def test_a_hanging_test_fails_with_its_traceback_and_the_run_goes_on():
    result, took = _run("test_hangs_in_python", "test_runs_after_the_hang")
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 failed, 1 passed" in out and "Timeout" in out
    assert "FAILED tests/test_timeouts.py::test_hangs_in_python" in out
    assert "time.sleep(600)" in out  # the traceback shows where it hung
    assert took < 60


def test_a_test_stuck_where_no_signal_is_handled_ends_the_run_naming_it():
    result, took = _run("test_hangs_where_no_signal_is_handled", "test_runs_after_the_hang")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Timeout (0:00:03)!" in out  # faulthandler's watchdog, which needs no GIL
    assert 'test_timeouts.py", line' in out and "in test_hangs_where_no_signal_is_handled" in out
    assert took < 60


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb (apt: gdb) prints the C stacks")
def test_a_stuck_run_also_prints_every_threads_c_stack():
    """What the Python stacks cannot show (tests/c_stacks.py): here the sleep in libc."""
    env = {**os.environ, HANG: "1", "DESKTOP_ASSISTANT_TIMEOUT_BACKSTOP_S": "16"}
    test = f"{__file__}::test_hangs_where_no_signal_is_handled"
    result = run_pytest(test, env=env, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "C stacks of the stuck run (gdb)" in out, out[-3000:]
    assert "nanosleep" in out and "Thread 1" in out  # the main thread, in time.sleep
