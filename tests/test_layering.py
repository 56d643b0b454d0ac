"""The package's layers, checked on every import statement (issue 19): what may import what.

    core      <- everything; imports nothing of ours, no Qt, no torch
    storage   -> core
    audio     -> core
    models    -> core; inference only inside functions (a model is checked by loading it);
                 no torch at import time
    inference -> core, audio, models
    ui        -> core, audio, models, inference, storage (and Qt)
    cli       -> anything but Qt (the window through app.run_gui)
Qt is imported only by ui/, app.py and cli/doctor.py (it checks that Qt can start)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import desktop_assistant

PACKAGE = Path(desktop_assistant.__file__).parent
ALLOWED = {
    "core": set(),
    "storage": {"core"},
    "audio": {"core"},
    "models": {"core"},
    "inference": {"core", "audio", "models"},
    "ui": {"core", "audio", "models", "inference", "storage"},
}
LAZY_ALLOWED = {"models": {"inference"}}  # imported inside a function only
QT_USERS = {"ui", "app"}
QT_FILES = {"cli/doctor.py"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
    return found


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def test_every_import_follows_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        for module, at_top in _imports(path):
            names = module.split(".")
            name = path.relative_to(PACKAGE).as_posix()
            if names[0] == "PySide6" and layer not in QT_USERS and name not in QT_FILES:
                wrong.append(f"{path.relative_to(PACKAGE)} imports Qt")
            if names[0] != "desktop_assistant" or len(names) < 2 or layer not in ALLOWED:
                continue
            target = names[1]
            if target == layer or target in ALLOWED[layer]:
                continue
            if not at_top and target in LAZY_ALLOWED.get(layer, set()):
                continue
            wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []


def test_the_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from desktop_assistant.ui import main_window\ndef f():\n    import torch\n")
    assert _imports(bad) == [("desktop_assistant.ui", True), ("torch", False)]


def test_model_management_does_not_import_torch():
    modules = sorted(p.stem for p in (PACKAGE / "models").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import desktop_assistant.models.{m}\n" for m in modules)
        + "print(sorted(m for m in ('torch', 'transformers', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert len(modules) >= 8 and out.stdout.strip() == "[]", out.stderr


# The window's parts get the collaborators they use, never the window (issue 19). menus.py
# fills the window's own menu bar and takes it as a plain QMainWindow; the two benchmark
# drivers build a window to measure it.
WINDOW_USERS = {"ui/main_window.py", "ui/menus.py", "ui/bench_window.py", "ui/bench_soak.py"}


def test_no_window_part_takes_the_window():
    wrong = []
    for path in sorted((PACKAGE / "ui").rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name in WINDOW_USERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "desktop_assistant.ui.main_window"
            ):
                wrong.append(f"{name}:{node.lineno} imports the main window")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = node.args.args + node.args.kwonlyargs
                wrong += [
                    f"{name}:{node.lineno} {node.name}() takes `{a.arg}`"
                    for a in params
                    if a.arg in ("window", "main_window")
                ]
    assert not wrong, "\n".join(wrong)
