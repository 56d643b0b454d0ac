"""`ask` says what a long load is doing on a terminal, and nothing elsewhere (issue 20)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time

import pytest

from desktop_assistant.cli.progress import TerminalProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_each_step_gets_a_line_with_its_time_and_a_running_counter():
    out = Terminal()
    with TerminalProgress(out, tick_s=0.05) as progress:
        progress("Converting the GGUF file…")
        time.sleep(1.2)
        progress("Saving…")
    text = out.getvalue()
    assert "\rConverting the GGUF file… 1 s" in text  # the counter, redrawn in place
    lines = text.split("\n")
    assert lines[0].endswith("Converting the GGUF file… done in 1.2 s\x1b[K")
    assert "Saving… done in" in lines[1] and lines[-1] == ""


def test_nothing_is_written_where_no_one_watches():
    out = io.StringIO()  # a pipe or a file
    with TerminalProgress(out) as progress:
        progress("Quantizing…")
    assert out.getvalue() == ""


@pytest.mark.slow
def test_ask_shows_its_first_load_on_a_terminal(tiny_chat_dir, isolated_home):
    main, follower = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "desktop_assistant", "ask", "--model", str(tiny_chat_dir)]
        + ["--max-new-tokens", "4", "Hello"],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        timeout=120,
        env={**os.environ, "DESKTOP_ASSISTANT_HOME": str(isolated_home)},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert result.returncode == 0
    text = shown.decode()
    assert "Quantizing to int8 (first time only): reading the weights… done in" in text
    assert "Saving the int8 copy for the next start… done in" in text
    assert "Quantizing" not in result.stdout  # the answer alone on stdout
