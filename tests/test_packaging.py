"""The icon, the desktop entry and the AppStream metainfo (issue 20): present, the same id
everywhere, valid where the validators are installed, and installable for one user."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop_assistant import APP_ID
from desktop_assistant.core import paths

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
sys.path.insert(0, str(PACKAGING))
import render_icons  # noqa: E402


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_every_png_size_is_the_svg_drawn_at_that_size(qapp):
    from PySide6.QtGui import QImage

    for size in render_icons.SIZES:
        png = QImage(str(render_icons.png_path(size)))
        assert png.width() == png.height() == size, f"{size}: run packaging/render_icons.py"
        drawn = render_icons.render(size).convertToFormat(png.format())
        assert drawn == png, f"{size}: the PNG is out of date; run packaging/render_icons.py"


def test_the_window_finds_its_icon(qapp):
    from desktop_assistant.ui.icons import app_icon

    assert paths.assets_dir() == ROOT / "assets"
    icon = app_icon()
    assert not icon.isNull() and 512 in [s.width() for s in icon.availableSizes()]


def test_one_id_names_the_entry_the_metainfo_and_the_icon():
    entry = _entry(DESKTOP)
    assert entry["Icon"] == APP_ID and entry["Exec"].startswith("desktop-assistant")
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name
    from desktop_assistant import __version__

    assert root.find("releases/release").get("version") == __version__
    app_py = (ROOT / "desktop_assistant" / "app.py").read_text(encoding="utf-8")
    assert "setDesktopFileName(APP_ID)" in app_py  # the dock matches the window to the entry


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils")
def test_the_desktop_entry_validates():
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "error" not in result.stdout, result.stdout


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstream")
def test_the_metainfo_validates():
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_entry_installs_for_one_user_and_starts_the_given_command(tmp_path):
    data = tmp_path / "share"
    app = tmp_path / "bundle" / "desktop-assistant"
    app.parent.mkdir()
    app.write_text("#!/bin/sh\n")
    app.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    script = PACKAGING / "install-desktop-entry"
    done = subprocess.run([script, str(app)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installed = _entry(data / "applications" / DESKTOP.name)
    assert installed["Exec"] == f'"{app}" %F' and installed["TryExec"] == str(app)
    assert (data / "icons/hicolor/256x256/apps" / f"{APP_ID}.png").is_file()
    assert (data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    assert (data / "metainfo" / METAINFO.name).is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(data / "applications" / DESKTOP.name)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout
    removed = subprocess.run([script, "--remove"], env=env, capture_output=True, text=True)
    assert removed.returncode == 0 and not (data / "applications" / DESKTOP.name).exists()


def test_every_button_icon_is_there_and_draws(qapp):
    from desktop_assistant.ui.icons import BUTTON_ICONS, button_icon

    for name in BUTTON_ICONS:
        assert (ROOT / "assets" / "icons" / "ui" / f"{name}.svg").is_file(), name
        image = button_icon(name).pixmap(24, 24).toImage()
        inked = sum(image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24))
        assert inked > 40, name  # something drawn, not an empty square
