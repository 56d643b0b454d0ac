"""`desktop-assistant doctor`: what this machine has and whether the app's parts can work.

Each check prints one line, `ok`, `note` (works, with a caveat) or `fail` (that part cannot
work), with what to do; the exit status is 1 when something fails. Nothing here changes a file
or reaches the network. `--verify` also re-hashes every installed model file against its
manifest (slow for big models: about 1 s a GB); without it only their presence and sizes are
checked.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    part: str
    level: str  # "ok", "note" or "fail"
    text: str


Check = Callable[[], list[Finding]]


def python_and_system() -> list[Finding]:
    return [
        Finding(
            "python",
            "ok" if sys.version_info >= (3, 11) else "fail",
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        )
    ]


def cpu() -> list[Finding]:
    import torch

    from desktop_assistant.inference.quantize import dynamic_int8_available, int4_kernel_available

    name, flags = _cpuinfo()
    wanted = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if f in flags]
    found = [
        Finding(
            "cpu",
            "ok",
            f"{name or platform.processor() or 'unknown CPU'}; {os.cpu_count()} "
            f"logical cores; {', '.join(wanted) or 'no AVX2'}",
        ),
        Finding(
            "torch",
            "ok",
            f"torch {torch.__version__}, kernels for "
            f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads",
        ),
    ]
    from desktop_assistant.inference import native

    int8, int4 = dynamic_int8_available(), int4_kernel_available()
    found.append(
        Finding(
            "precision",
            "ok" if int8 else "note",
            f"int8 {'available' if int8 else 'not available (slower bf16 or int4 instead)'}; "
            f"int4 {'available' if int4 else 'not available'}",
        )
    )
    kernel = native.kernel()
    found.append(
        Finding(
            "int8 kernel",
            "ok" if kernel is not None else "note",
            f"our own, {native.ISA_NAMES[kernel.isa]} ({kernel.path})"
            if kernel is not None
            else "fbgemm's (ours needs a C compiler, cc or $CC, and AVX2; about 20% slower)",
        )
    )
    return found


def memory_and_disk() -> list[Finding]:
    import psutil

    from desktop_assistant.core import paths

    memory = psutil.virtual_memory()
    data = _existing_parent(paths.data_dir())
    free = shutil.disk_usage(data).free
    return [
        Finding(
            "memory",
            "ok" if memory.available > 2e9 else "note",
            f"{memory.total / 1e9:.1f} GB, {memory.available / 1e9:.1f} GB free "
            "(a 0.5B model needs about 1.5 GB, 3.5 GB when a GGUF is converted)",
        ),
        Finding(
            "disk",
            "ok" if free > 5e9 else "note",
            f"{free / 1e9:.1f} GB free where the data folder is ({data})",
        ),
    ]


def display() -> list[Finding]:
    import PySide6

    from desktop_assistant.app import no_display_reason

    reason = no_display_reason()
    platform_name = os.environ.get("QT_QPA_PLATFORM") or (
        "wayland"
        if os.environ.get("WAYLAND_DISPLAY")
        else "xcb"
        if os.environ.get("DISPLAY")
        else "default"
    )
    if reason:
        return [Finding("window", "fail", f"PySide6 {PySide6.__version__}: {reason}")]
    return [Finding("window", "ok", f"PySide6 {PySide6.__version__}, Qt platform {platform_name}")]


def audio() -> list[Finding]:
    try:
        import sounddevice
    except OSError as err:  # the PortAudio library is missing
        return [Finding("microphone", "fail", f"{err}: install libportaudio2 (or portaudio)")]
    try:
        devices = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
    except Exception as err:  # PortAudio could not list them
        return [Finding("microphone", "fail", f"audio devices cannot be listed: {err}")]
    if not devices:
        return [Finding("microphone", "note", "no input device: voice works from audio files")]
    names = ", ".join(str(d["name"]) for d in devices[:3])
    return [Finding("microphone", "ok", f"{len(devices)} input device(s): {names}")]


def voices() -> list[Finding]:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtTextToSpeech import QTextToSpeech

    _ = QCoreApplication.instance() or QCoreApplication([])
    engines = [e for e in QTextToSpeech.availableEngines() if e != "mock"]
    if not engines:
        return [
            Finding(
                "read aloud",
                "note",
                "no text-to-speech engine: install speech-dispatcher (Linux) to hear answers",
            )
        ]
    return [Finding("read aloud", "ok", f"text-to-speech engines: {', '.join(engines)}")]


def speech_model() -> list[Finding]:
    from desktop_assistant.core.settings import Settings

    path = Settings().get("stt_model_path")
    if not path:
        where = "Settings → Speech model folder, or File → Models…"
        return [Finding("speech model", "note", f"none set: {where}")]
    if not Path(path).expanduser().is_dir():
        return [Finding("speech model", "fail", f"{path} is not a folder")]
    return [Finding("speech model", "ok", path)]


def app_files() -> list[Finding]:
    """What the app carries besides its code: the model catalog, its icons and Qt's platform
    plugins (a bundle that left one out fails here, not in front of a user)."""
    from PySide6.QtCore import QLibraryInfo

    from desktop_assistant.core import paths
    from desktop_assistant.models.catalog import load_catalog

    found = []
    try:
        entries = len(load_catalog().entries)
        found.append(Finding("catalog", "ok", f"{entries} models"))
    except Exception as err:
        found.append(Finding("catalog", "fail", f"cannot be read: {err}"))
    icons = paths.assets_dir()
    if icons is None:
        found.append(Finding("icons", "note", "not found: the window goes without its icon"))
    else:
        found.append(Finding("icons", "ok", str(icons)))
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    names = sorted(p.name for p in plugins.glob("libq*.so")) if plugins.is_dir() else []
    if any("xcb" in n or "wayland" in n for n in names):
        found.append(Finding("Qt plugins", "ok", f"{plugins}: {', '.join(names)}"))
    elif names or sys.platform != "linux":
        found.append(Finding("Qt plugins", "note", f"{plugins}: {', '.join(names) or 'none'}"))
    else:
        found.append(Finding("Qt plugins", "fail", f"no platform plugin in {plugins}"))
    return found


def models(verify: bool = False) -> Callable[[], list[Finding]]:
    def check() -> list[Finding]:
        from desktop_assistant.models import registry as installed_models

        found = []
        installed = installed_models.list_installed()
        if not installed:
            return [Finding("models", "note", "none installed: File → Models… or `models`")]
        for model in installed:
            problem = _model_problem(model.path, verify)
            what = f"{model.id} ({model.role}, {model.size / 1e9:.2f} GB)"
            found.append(Finding("model", "fail" if problem else "ok", f"{what}{problem}"))
        return found

    return check


def data_folder() -> list[Finding]:
    from desktop_assistant.core import paths

    found = []
    folder = paths.data_dir()
    if not folder.exists():
        return [Finding("data", "ok", f"{folder} (not made yet: made at first start)")]
    mode = stat.S_IMODE(folder.stat().st_mode)
    private = not mode & 0o077
    writable = os.access(folder, os.W_OK)
    found.append(
        Finding(
            "data",
            "ok" if private and writable else ("fail" if not writable else "note"),
            f"{folder}, mode {mode:o}"
            + ("" if writable else ": not writable")
            + ("" if private else " (others can read it; the app sets 700 at its next start)"),
        )
    )
    history = paths.history_file()
    if history.exists():
        found.append(_history_check(history))
    return found


def _history_check(path: Path) -> Finding:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            count = db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as err:
        return Finding("history", "fail", f"{path} cannot be read: {err}")
    if result != "ok":
        return Finding("history", "fail", f"{path} is damaged ({result}); the app sets it aside")
    return Finding("history", "ok", f"{count} conversations, file checked")


def offline() -> list[Finding]:
    from desktop_assistant.core import offline as guard

    state = "off (a download is running)" if guard.network_allowed() else "on"
    return [Finding("network", "ok", f"the app is offline unless you download; guard {state}")]


def run_checks(checks: list[Check]) -> list[Finding]:
    findings = []
    for check in checks:
        try:
            findings += check()
        except Exception as err:  # one broken part must not hide the others
            name = getattr(check, "__name__", "check")
            findings.append(Finding(name, "fail", f"{type(err).__name__}: {err}"))
    return findings


def all_checks(verify: bool = False) -> list[Check]:
    return [
        python_and_system,
        cpu,
        memory_and_disk,
        display,
        app_files,
        audio,
        voices,
        speech_model,
        models(verify),
        data_folder,
        offline,
    ]


def run(args: Any) -> int:
    findings = run_checks(all_checks(getattr(args, "verify", False)))
    if getattr(args, "json", False):
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        width = max(len(f.part) for f in findings)
        for f in findings:
            print(f"{f.level:<4}  {f.part:<{width}}  {f.text}")
    return 1 if any(f.level == "fail" for f in findings) else 0


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", set()
    name, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return name, flags


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _model_problem(folder: Path, verify: bool) -> str:
    """ "" when the model's files are there (and, with `verify`, hash right)."""
    import hashlib

    from desktop_assistant.models.registry import MANIFEST

    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError) as err:
        return f": its manifest cannot be read ({err})"
    for name, info in files.items():
        path = folder / name
        if not path.is_file():
            return f": {name} is missing"
        if path.stat().st_size != int(info.get("size", -1)):
            return f": {name} has the wrong size (damaged or changed)"
        if verify and info.get("sha256"):
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            if digest.hexdigest() != info["sha256"]:
                return f": {name} does not match its checksum"
    return ""
