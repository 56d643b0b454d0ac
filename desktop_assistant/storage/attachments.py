"""Attached files on disk, named by the SHA-256 of their bytes.

Why content addressing: the same picture attached to ten messages is stored once, a history
row needs only the digest (and suffix) to find it again, and a file is never half-written
under its final name (temp file, fsync, `os.replace`). Files are kept exactly as the user gave
them (the original bytes, whatever the format), so the full picture can be opened later.

Layout: `<root>/ab/abcdef...<suffix>`, the first two hex digits as a folder so no folder grows
huge. The suffix (".png") is only for other programs that open the file; what is inside is
read from the content. Safe to use from several threads of one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from desktop_assistant.core import paths

_HASH = re.compile(r"[0-9a-f]{64}")
_SUFFIX = re.compile(r"(\.[a-z0-9]{1,10})?")
_NAME = re.compile(r"(?P<sha>[0-9a-f]{64})(?P<suffix>\.[a-z0-9]{1,10})?")
_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMP_PREFIX = ".incoming-"
_CHUNK = 1 << 20
GRACE_S = 3600.0  # files younger than this survive garbage collection (see remove_unreferenced)


@dataclass(frozen=True)
class StoredFile:
    """One file in the store."""

    sha256: str  # hex digest of the bytes: the file's name and its key in the history
    suffix: str  # ".png", or "": record this one, it may differ from the one asked for
    path: Path  # where it is
    size: int  # bytes


class AttachmentStore:
    """A folder of files named by content; see the module doc."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.attachments_dir()
        self._lock = threading.Lock()  # check-then-rename and folder removal, not the copying

    def put(self, data: bytes | Path, suffix: str = "") -> StoredFile:
        """Store bytes, or a copy of a file, and return where they are.

        Idempotent: content already stored is not written again, and the stored file is
        returned even if it was stored under another suffix (one copy per content).
        Raises OSError if a source file cannot be read or the disk is full.
        """
        suffix = clean_suffix(suffix)
        self.root.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            with data.open("rb") as source:
                temp, sha256, size = self._write_temp(_chunks(source))
        else:
            sha256 = hashlib.sha256(data).hexdigest()
            size = len(data)
            with self._lock:
                found = self._refresh(self.find(sha256), size)
            if found is not None:
                return found
            temp, _, _ = self._write_temp(iter((bytes(data),)))
        try:
            with self._lock:
                found = self.find(sha256)
                whole = self._refresh(found, size)
                if whole is not None:
                    return whole
                if found is not None:  # a damaged copy: rewritten under the name it has
                    suffix = found.suffix
                target = self.path_for(sha256, suffix)
                target.parent.mkdir(exist_ok=True)
                os.replace(temp, target)
                _fsync_dir(target.parent)
            return StoredFile(sha256, suffix, target, size)
        finally:
            temp.unlink(missing_ok=True)

    def path_for(self, sha256: str, suffix: str = "") -> Path:
        """Where the file with this digest and suffix lives (whether it exists or not)."""
        sha256 = clean_hash(sha256)
        return self.root / sha256[:2] / f"{sha256}{clean_suffix(suffix)}"

    def find(self, sha256: str) -> StoredFile | None:
        """The stored file with this digest, whatever its suffix, or None."""
        sha256 = clean_hash(sha256)
        for path in self._files(self.root / sha256[:2]):
            match = _NAME.fullmatch(path.name)
            if match and match["sha"] == sha256:
                try:
                    size = path.stat().st_size
                except FileNotFoundError:  # removed just now
                    continue
                return StoredFile(sha256, match["suffix"] or "", path, size)
        return None

    def exists(self, sha256: str) -> bool:
        return self.find(sha256) is not None

    def remove_unreferenced(self, keep: set[str], *, grace_s: float = GRACE_S) -> int:
        """Delete stored files whose digest is not in `keep`; return how many went.

        Files younger than `grace_s` stay: a picture is stored before the message that refers
        to it is saved, and must not vanish in between. Leftover temp files of a crash go too.
        """
        keep = {sha.lower() for sha in keep}
        cutoff = time.time() - grace_s
        removed = 0
        for path in self._files(self.root):  # temp files of put()
            if path.name.startswith(_TEMP_PREFIX) and _older(path, cutoff):
                path.unlink(missing_ok=True)
        for shard in self._shards():
            with self._lock:  # put() refreshes a file's time under this lock
                for path in self._files(shard):
                    match = _NAME.fullmatch(path.name)
                    if match and match["sha"] not in keep and _older(path, cutoff):
                        path.unlink(missing_ok=True)
                        removed += 1
                with contextlib.suppress(OSError):
                    shard.rmdir()  # only if empty
        return removed

    def remove(self, digests: set[str]) -> int:
        """Delete the stored files with these digests (no longer referenced: the caller
        knows); return how many went."""
        removed = 0
        with self._lock:
            for sha in digests:
                found = self.find(sha)
                if found is not None:
                    found.path.unlink(missing_ok=True)
                    removed += 1
                    with contextlib.suppress(OSError):
                        found.path.parent.rmdir()  # only if empty
        return removed

    @staticmethod
    def _refresh(found: StoredFile | None, size: int) -> StoredFile | None:
        """`found` if it is whole, its time set to now so garbage collection spares it until
        the message that uses it is saved; None if it must be (re)written."""
        if found is None or found.size != size:
            return None
        try:
            os.utime(found.path)
        except FileNotFoundError:
            return None
        return found

    def _write_temp(self, chunks: Iterator[bytes]) -> tuple[Path, str, int]:
        """Write to a new temp file in the root, synced to disk; its path, digest and size."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.root)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp, digest.hexdigest(), size

    def _shards(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if p.is_dir() and _SHARD.fullmatch(p.name)]
        except FileNotFoundError:
            return []

    @staticmethod
    def _files(folder: Path) -> list[Path]:
        try:
            return [p for p in folder.iterdir() if p.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


def clean_hash(sha256: str) -> str:
    """A lowercase hex digest; anything else (a path, say) is a bug and refused."""
    value = sha256.lower()
    if not _HASH.fullmatch(value):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return value


def clean_suffix(suffix: str) -> str:
    """Turn "png" or ".PNG" into ".png" ("" stays ""); refuse anything that is not a suffix."""
    value = suffix.lower()
    if value and not value.startswith("."):
        value = "." + value
    if not _SUFFIX.fullmatch(value):
        raise ValueError(f"not a file suffix: {suffix!r}")
    return value


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); Windows cannot open a folder for this and needs not."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
