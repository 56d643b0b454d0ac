"""Installed models: one folder per model under `paths.models_dir()`, named `<org>--<name>`,
holding the model's own files and a small manifest (`MANIFEST`) written last.

A folder without a manifest is not installed (a download or import cut short); a download in
progress lives under `partial_dir()` until every file is verified. The default model per role
is kept in the settings the rest of the app already reads: `model_path` (the conversation
model; a vision model also chats) and `stt_model_path` (speech to text).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_assistant.core import paths
from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.core.remotes import PREFIX as REMOTE_PREFIX
from desktop_assistant.models.catalog import (
    ROLES,
    CatalogEntry,
    folder_name,
    human_size,
    load_catalog,
)
from desktop_assistant.models.gguf_header import read_header
from desktop_assistant.models.model_folder import check_model_folder

log = logging.getLogger(__name__)
MANIFEST = "desktop-assistant-model.json"
FORMAT = 1
VISION_TYPES = ("idefics3", "smolvlm")  # as engines.VISION_MODEL_TYPES (kept torch-free here)
SPEECH_TYPES = ("whisper",)
SETTING_FOR_ROLE = {"chat": "model_path", "vision": "model_path", "speech": "stt_model_path"}
FITS, TIGHT, WONT_FIT = "fits", "tight", "will not fit"


@dataclass(frozen=True)
class InstalledModel:
    id: str  # "org/name" for downloads, "local/<name>" for imports
    role: str  # chat / vision / speech
    path: Path  # the model folder (what `--model` and the engines take)
    source: str  # "download" or "import"
    size: int  # bytes on disk
    origin: str = ""  # the hub repository, or the imported folder or file
    revision: str = ""  # the hub commit the files came from
    architecture: str = ""  # config.json's model_type
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    installed_at: float = 0.0

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[-1]


def partial_dir() -> Path:
    """Downloads not finished yet (resumed from here, also after a restart)."""
    return paths.models_dir() / ".partial"


def model_dir(model_id: str) -> Path:
    return paths.models_dir() / folder_name(model_id)


def role_of_config(config: dict[str, Any]) -> str:
    model_type = str(config.get("model_type", ""))
    if model_type in SPEECH_TYPES:
        return "speech"
    if model_type in VISION_TYPES:
        return "vision"
    return "chat"


def write_manifest(
    folder: Path,
    *,
    model_id: str,
    role: str,
    source: str,
    origin: str,
    files: dict[str, tuple[int, str]],  # name -> (size, sha256)
    revision: str = "",
    architecture: str = "",
) -> InstalledModel:
    """Record what the folder holds; written last, atomically: its presence means installed."""
    data = {
        "format": FORMAT,
        "id": model_id,
        "role": role,
        "source": source,
        "origin": origin,
        "revision": revision,
        "architecture": architecture,
        "installed_at": time.time(),
        "files": {name: {"size": s, "sha256": h} for name, (s, h) in sorted(files.items())},
    }
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(folder / MANIFEST)
    model = read_manifest(folder)
    assert model is not None
    return model


def read_manifest(folder: Path) -> InstalledModel | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = data.get("files", {})
        return InstalledModel(
            id=str(data["id"]),
            role=str(data["role"]),
            path=folder,
            source=str(data.get("source", "")),
            size=sum(int(f.get("size", 0)) for f in files.values()),
            origin=str(data.get("origin", "")),
            revision=str(data.get("revision", "")),
            architecture=str(data.get("architecture", "")),
            sha256={name: str(f.get("sha256", "")) for name, f in files.items()},
            installed_at=float(data.get("installed_at", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def list_installed(role: str | None = None) -> list[InstalledModel]:
    root = paths.models_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        model = read_manifest(folder)
        if model is not None and (role is None or model.role == role):
            found.append(model)
    return sorted(found, key=lambda m: (ROLES.index(m.role) if m.role in ROLES else 9, m.id))


def find_installed(value: str) -> InstalledModel | None:
    """The installed model with this id ("org/name", case-insensitive) or folder name."""
    wanted = value.strip().strip("/").lower()
    if not wanted:
        return None
    for model in list_installed():
        if wanted in (model.id.lower(), model.path.name.lower()):
            return model
    return None


def remove(model_id: str, settings: Any = None) -> int:
    """Delete an installed model (and its quantized copies in the cache); returns the bytes
    freed. A setting that pointed at it is cleared."""
    model = find_installed(model_id)
    if model is None:
        raise UserError(f"{model_id} is not installed (see `desktop-assistant models list`)")
    folder = model.path.resolve()
    if folder.parent != paths.models_dir().resolve():
        raise UserError(f"refusing to delete {folder}: it is not in the models folder")
    freed = _tree_size(folder)
    from desktop_assistant.inference import quant_cache

    cached = quant_cache.entry_dir(folder, "int8", 0).parent
    freed += _tree_size(cached)
    shutil.rmtree(cached, ignore_errors=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # uninstalled even if the rest fails
    shutil.rmtree(folder, ignore_errors=True)
    if settings is not None:
        for name in set(SETTING_FOR_ROLE.values()):
            value = settings.get(name)
            if value and paths.same_folder(value, folder):
                settings.set(name, "")
    return freed


def discard_partial(model_id: str) -> int:
    """Forget a download in progress (its resumable parts); returns the bytes freed."""
    folder = partial_dir() / folder_name(model_id)
    freed = _tree_size(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return freed


def set_default(role: str, model_id: str, settings: Any) -> InstalledModel:
    """Make an installed model the default for `role` (chat and vision share the window's
    conversation model: a vision model also chats)."""
    if role not in SETTING_FOR_ROLE:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    model = find_installed(model_id)
    if model is None:
        raise UserError(f"{model_id} is not installed (see `desktop-assistant models list`)")
    allowed = {"chat": ("chat", "vision"), "vision": ("vision",), "speech": ("speech",)}[role]
    if model.role not in allowed:
        raise UserError(f"{model.id} is a {model.role} model; it cannot be the {role} model")
    settings.set(SETTING_FOR_ROLE[role], str(model.path))
    return model


def default_if_unset(model: InstalledModel, settings: Any) -> bool:
    """Make a newly installed model the default of its role when that role has none (or
    names a folder that is gone); True when it did."""
    current = settings.get(SETTING_FOR_ROLE[model.role])
    if current and Path(current).expanduser().exists():
        return False
    settings.set(SETTING_FOR_ROLE[model.role], str(model.path))
    return True


def default_model(role: str, settings: Any) -> InstalledModel | None:
    """The installed model the settings name for `role`, if it is one."""
    value = settings.get(SETTING_FOR_ROLE[role])
    if not value:
        return None
    for model in list_installed():
        if paths.same_folder(value, model.path):
            if role == "vision" and model.role != "vision":
                return None
            return model
    return None


def folders_in_use(settings: Any) -> list[InstalledModel]:
    """Model folders (and GGUF files) the settings name that are not installed here (opened
    with File → Open model folder… or `--model`), described as installed ones are (`source`
    "folder"; the id says "folder/…" or "file/…")."""
    found = []
    installed = list_installed()
    for name in dict.fromkeys(SETTING_FOR_ROLE.values()):
        value = settings.get(name)
        if not value or any(paths.same_folder(value, m.path) for m in installed):
            continue
        try:
            folder = check_model_folder(value)
        except ModelError:
            continue  # gone, or not a model folder: nothing to show
        if folder.gguf:  # a llama.cpp file, converted at load (text models only)
            try:
                architecture = read_header(folder.path).architecture
            except ModelError:
                continue
            role, size, kind = "chat", folder.path.stat().st_size, "file"
        else:
            architecture, kind = folder.model_type, "folder"
            role, size = role_of_config(folder.config), _tree_size(folder.path)
        found.append(
            InstalledModel(
                id=f"{kind}/{folder.path.name or folder.path}",
                role=role,
                path=folder.path,
                source="folder",
                size=size,
                origin=str(folder.path),
                architecture=architecture,
            )
        )
    return found


def needs_setup(settings: Any) -> bool:
    """No conversation model yet: the window should open on the first-run page."""
    current = settings.get("model_path")
    if current and (current.startswith(REMOTE_PREFIX) or Path(current).expanduser().exists()):
        return False
    return not any(m.role in ("chat", "vision") for m in list_installed())


def resolve_model_arg(value: str) -> str:
    """A `--model` value: an existing path as given, else the folder of the installed model
    with that id; a catalog id that is not installed says how to get it."""
    if not value or Path(value).expanduser().exists():
        return value
    model = find_installed(value)
    if model is not None:
        return str(model.path)
    entry = load_catalog().get(value)
    if entry is not None:
        raise ModelError(
            f"{entry.id} is not installed; download it with "
            f"`desktop-assistant models download {entry.id}` or in the model manager"
        )
    return value


@dataclass(frozen=True)
class Fit:
    verdict: str  # FITS, TIGHT or WONT_FIT
    needed: int  # bytes
    free: int  # bytes

    @classmethod
    def of(cls, needed: int, free: int, comfortable: float) -> Fit:
        """FITS with `comfortable` bytes free or more, TIGHT with `needed`, else WONT_FIT."""
        verdict = FITS if free >= comfortable else TIGHT if free >= needed else WONT_FIT
        return cls(verdict, needed, free)

    def describe(self) -> str:
        return f"needs {human_size(self.needed)}, {human_size(self.free)} free"


def ram_fit(needed: int, available: int | None = None) -> Fit:
    """RAM needed vs what this machine has free now (psutil's `available`)."""
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    return Fit.of(needed, available, comfortable=needed * 1.25)


def disk_fit(needed: int, folder: Path | None = None, free: int | None = None) -> Fit:
    """Disk space needed vs free space where models are installed."""
    if free is None:
        free = free_disk(folder or paths.models_dir())
    return Fit.of(needed, free, comfortable=needed + max(needed * 0.1, 500e6))


def free_disk(folder: Path) -> int:
    """Free bytes on the disk holding `folder` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return int(shutil.disk_usage(probe).free)


def ram_needed(model: InstalledModel | CatalogEntry) -> int:
    """RAM to load and run a model: the catalog's figure, else an estimate from its size
    (checkpoints are loaded in 16 bits and then quantized, plus room to work)."""
    if isinstance(model, CatalogEntry):
        return model.min_ram
    entry = load_catalog().get(model.id) if model.source == "download" else None
    if entry is not None:
        return entry.min_ram
    return int(model.size * 1.2 + 300e6)


def _tree_size(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
