"""The real app in a real X server (Xvfb): it opens, answers, and a screenshot shows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="Xvfb is not installed"),
    pytest.mark.slow,
    pytest.mark.timeout(180),
]


def test_real_window_answers_and_is_screenshotted(tmp_path, tiny_chat_dir):
    from PIL import Image

    shot = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["QT_QPA_PLATFORM"] = "xcb"
    result = subprocess.run(
        [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1000x760x24",
            sys.executable,
            "-m",
            "desktop_assistant",
            "--model",
            str(tiny_chat_dir),
            "--send",
            "Hello from Xvfb",
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 760)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # a drawn window, not a blank screen
