"""The curated catalog of models the app can download (catalog.json, shipped with the package).

Qt-free and torch-free: the model manager and the first-run page read it on the UI thread.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

ROLES = ("chat", "vision", "speech")
ROLE_NAMES = {"chat": "Text chat", "vision": "Pictures and chat", "speech": "Speech to text"}


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # the Hugging Face repository, "org/name"
    role: str  # "chat" (text only), "vision" (pictures and text) or "speech"
    architecture: str  # config.json's model_type
    parameters: int
    download: dict[str, int]  # precision of the weights on the hub -> bytes fetched (approx.)
    context: int  # tokens the model reads at once (Whisper: decoder tokens per 30 s)
    licence: str
    min_ram: int  # bytes of RAM to load and run it in the app's default precision (approx.)
    description: str  # one line, for people
    gated: bool = False  # the hub wants an accepted licence and a token before it serves files
    access: str = ""  # for gated models: how to get access
    files: tuple[str, ...] = field(default=())  # patterns of the files to fetch

    @property
    def download_bytes(self) -> int:
        """Bytes fetched (the catalog lists one precision per model: the hub's own)."""
        return max(self.download.values())

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[-1]

    @property
    def folder_name(self) -> str:
        """The installed model's folder under the models directory."""
        return folder_name(self.id)

    def wants(self, filename: str) -> bool:
        return wanted_file(filename, self.files)


def folder_name(model_id: str) -> str:
    """ "org/name" -> "org--name" (the hub's own cache uses the same separator)."""
    return model_id.strip().strip("/").replace("/", "--")


def wanted_file(filename: str, patterns: tuple[str, ...]) -> bool:
    """Only top-level files that match: no pickles (.bin/.pt), no ONNX/TF/Flax/GGUF copies,
    no `original/` checkpoints in other formats."""
    if "/" in filename or filename.startswith("."):
        return False
    return any(fnmatch.fnmatchcase(filename, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    defaults: dict[str, str]  # role -> recommended id
    files: tuple[str, ...]  # default file patterns

    def get(self, model_id: str) -> CatalogEntry | None:
        wanted = model_id.strip().strip("/").lower()
        for entry in self.entries:
            if entry.id.lower() == wanted or entry.folder_name.lower() == wanted:
                return entry
        return None

    def for_role(self, role: str) -> tuple[CatalogEntry, ...]:
        return tuple(e for e in self.entries if e.role == role)

    def default(self, role: str) -> CatalogEntry | None:
        model_id = self.defaults.get(role)
        return self.get(model_id) if model_id else None

    def recommended(self) -> tuple[CatalogEntry, ...]:
        """The first-run set: a vision chat model and a speech model."""
        return tuple(e for e in (self.default("vision"), self.default("speech")) if e)


def parse_catalog(data: dict) -> Catalog:
    files = tuple(data.get("files", ()))
    entries = []
    for raw in data["models"]:
        raw = dict(raw)
        raw["download"] = {str(k): int(v) for k, v in raw["download"].items()}
        raw["files"] = tuple(raw.get("files") or files)
        entry = CatalogEntry(**raw)
        if entry.role not in ROLES:
            raise ValueError(f"catalog entry {entry.id} has unknown role {entry.role!r}")
        entries.append(entry)
    return Catalog(tuple(entries), dict(data.get("defaults", {})), files)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    text = (
        resources.files("desktop_assistant.models")
        .joinpath("catalog.json")
        .read_text(encoding="utf-8")
    )
    return parse_catalog(json.loads(text))


def human_size(n: float) -> str:
    """Bytes for people: 1.2 GB, 350 MB (decimal units, as disk makers and the hub use)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


def human_duration(seconds: float) -> str:
    """Seconds for people: 45 s, 12 min, 1.5 h."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{max(seconds, 1):.0f} s"
