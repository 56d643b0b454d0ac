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
