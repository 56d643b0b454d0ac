"""The one-folder bundle (packaging/desktop-assistant.spec, issue 20): built here, then started
as a user with no Python or venv would start it (`env -i`: no PATH, no PYTHONPATH, no HOME),
so the spec cannot rot. Slow: the build takes a few minutes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_assistant import __version__

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "desktop-assistant.spec"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1500),  # the first test waits for the build (3 min on 2 cores)
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the spec is for Linux"),
    pytest.mark.skipif(
        shutil.which("pyinstaller", path=str(Path(sys.executable).parent)) is None,
        reason="PyInstaller is not installed (pip install pyinstaller)",
    ),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """Built here; or, with DESKTOP_ASSISTANT_TEST_BUNDLE naming a built bundle's program
    (after `make bundle`: dist/desktop-assistant/desktop-assistant), that one."""
    given = os.environ.get("DESKTOP_ASSISTANT_TEST_BUNDLE")
    if given:
        return Path(given).resolve()
    work = tmp_path_factory.mktemp("bundle")
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    result = subprocess.run(
        [pyinstaller, "--noconfirm", "--distpath", work / "dist", "--workpath", work / "build"]
        + [str(SPEC)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    app = work / "dist" / "desktop-assistant" / "desktop-assistant"
    assert app.is_file()
    return app


def bare(app: Path, home: Path, *args: str, display: bool = False, timeout: int = 120):
    """Run the bundle with an empty environment: only where its data goes and, for the
    window, the virtual display."""
    env = [f"DESKTOP_ASSISTANT_HOME={home}"]
    if display:
        inner = 'exec env -i DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" "$@"'
        command = ["xvfb-run", "-a", "sh", "-c", inner, "sh", *env, str(app), *args]
    else:
        command = ["env", "-i", *env, str(app), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_it_starts_with_nothing_but_itself(bundle, tmp_path):
    result = bare(bundle, tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"desktop-assistant {__version__}"


def test_it_finds_its_catalog_icons_and_qt_plugins(bundle, tmp_path):
    result = bare(bundle, tmp_path, "doctor", "--json")
    found = {f["part"]: f for f in json.loads(result.stdout)}
    assert found["catalog"]["level"] == "ok", found["catalog"]
    assert found["icons"]["level"] == "ok" and str(bundle.parent) in found["icons"]["text"]
    assert found["Qt plugins"]["level"] == "ok", found["Qt plugins"]
    assert str(bundle.parent) in found["Qt plugins"]["text"]


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run (apt: xvfb)")
def test_it_paints_a_real_window(bundle, tmp_path):
    started = time.perf_counter()
    result = bare(bundle, tmp_path, "--quit-after-paint", display=True)
    took = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown == {"painted": True, "torch_imported": False}
    print(f"bundle: launch to painted window {took:.2f} s (with Xvfb's start)")


def test_it_answers_with_a_model(bundle, tmp_path, tiny_chat_dir):
    """torch and transformers work inside the bundle (no C compiler on PATH: the int8
    kernel falls back as on a machine without one), and so does PDFium (a PDF's pages)."""
    from tests.core.test_documents import make_pdf

    pdf = make_pdf(tmp_path / "ferry.pdf", ["The ferry to the island leaves at seven."])
    result = bare(bundle, tmp_path, "ask", "--model", str(tiny_chat_dir), "--max-new-tokens",
                  "4", "--file", str(pdf), "When does the ferry leave?", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answer, sources = result.stdout.split("Sources:\n", 1)
    assert "ferry.pdf, page 1" in sources
