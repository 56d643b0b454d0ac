"""The window is painted before torch or transformers are imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_window_paints_before_torch_is_imported():
    result = subprocess.run(
        [sys.executable, "-m", "desktop_assistant", "--quit-after-paint"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"painted": True, "torch_imported": False}


def test_gui_modules_do_not_import_torch_at_import_time():
    code = (
        "import sys, desktop_assistant.app, desktop_assistant.ui.main_window, "
        "desktop_assistant.inference.causal_lm; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_started_with_no_locale_qt_says_nothing_about_it(tmp_path):
    """As the bundle starts under `env -i`: no LANG or LC_*, and a Python that does not coerce
    the C locale (PyInstaller's does not). Qt used to print four lines about it; LC_ALL=C
    set by a script is handled the same way, its other categories kept."""
    for extra in ({}, {"LC_ALL": "C"}):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONCOERCECLOCALE": "0",
            "QT_QPA_PLATFORM": "offscreen",
            "DESKTOP_ASSISTANT_HOME": str(tmp_path),
            **extra,
        }
        result = subprocess.run(
            [sys.executable, "-m", "desktop_assistant", "--quit-after-paint"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "locale" not in result.stderr, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1])["painted"] is True
